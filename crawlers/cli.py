"""``dragnet crawl``, ``dragnet session``, ``dragnet sources`` and ``dragnet profile``.

Exit statuses of ``dragnet crawl``: 0 listings were crawled; 1 no listings (one line says why
per site); 2 the command or a profile is wrong (or ``--out`` exists without ``--append``);
3 a site is paused behind a gate that needs a human (``dragnet session import SITE COOKIE``
resumes it), whether or not other sites yielded listings.
"""

from __future__ import annotations

import signal
import threading
from pathlib import Path

import typer

from crawlers.check import fetch_page, inspect_page, response_for
from crawlers.pipelines import Sink
from crawlers.profiles import ProfileError, find_profile
from crawlers.runner import SPIDER_KINDS, run_crawl
from crawlers.schedule import CrawlSchedule, run_replica
from crawlers.sessions import SessionStore
from crawlers.skeleton import skeleton
from crawlers.telegram import TelegramState
from dragnet.broker import broker_problem
from dragnet.settings import get_settings

GATED_EXIT = 3  # dragnet crawl: a site waits behind a gate that needs a human


def register(app: typer.Typer, handoff: Sink, child: list[str] | None = None) -> None:
    """Add the crawler's commands; ``handoff`` receives each batch of crawled listings (the
    top-level CLI passes the workers' ``submit_batch``); ``child`` is the command line that runs
    this CLI again (``--scheduled`` crawls each round in a fresh process: one reactor each)."""

    @app.command("crawl")
    def crawl(
        target: list[str] = typer.Argument(
            None,
            help="Site profile names or paths, or a spider kind "
            "(market, forum, social, telegram: every bundled profile of it).",
            show_default=False,
        ),
        all_: bool = typer.Option(False, "--all", help="Every profile of crawl.profiles_dir (the test site excepted)."),
        scheduled: bool = typer.Option(
            False,
            "--scheduled",
            help="Run until stopped: take the crawl rounds the beat hands out and crawl each on the shared frontier.",
        ),
        out: Path | None = typer.Option(
            None, "--out", "-o", help="Also write the listings to this JSONL file (refused if it exists)."
        ),
        append: bool = typer.Option(False, "--append", help="Append to an existing --out file."),
        proxy: str | None = typer.Option(
            None, "--proxy", help="SOCKS5h proxy (default: tor.socks_url); '' to connect directly."
        ),
        shared_frontier: bool = typer.Option(
            False, "--shared-frontier", help="Share scheduler and dupefilter through Redis (redis.url)."
        ),
        hand_on: bool = typer.Option(True, "--handoff/--no-handoff", help="Hand listings to the workers."),
        json_output: bool = typer.Option(False, "--json", help="Print the crawl's figures as one JSON line."),
        quiet: bool = typer.Option(False, "--quiet", "-q", help="Warnings and errors only; no progress line."),
    ) -> None:
        """Crawl site profiles (or spiders) and hand their listings on.

        Exit status: 0 listings crawled; 1 none (a reason per site); 2 a wrong command or
        profile; 3 a site is paused behind a human gate (resume: dragnet session import SITE COOKIE).
        """

        if out is not None and out.exists() and not append:
            typer.echo(f"dragnet crawl: {out} exists; add --append to add to it, or choose another --out", err=True)
            raise typer.Exit(code=2)
        settings = get_settings()
        if scheduled:
            if target or all_:
                typer.echo("dragnet crawl: --scheduled takes no targets (the beat hands out the rounds)", err=True)
                raise typer.Exit(code=2)
            raise typer.Exit(code=_run_scheduled(child))
        if all_ == bool(target):
            typer.echo("dragnet crawl: give site profiles or kinds, or --all (not both)", err=True)
            raise typer.Exit(code=2)
        if all_:
            target = list(SPIDER_KINDS)
        if settings.redis.url and (hand_on or shared_frontier):
            # found before a single page is fetched, not as a traceback at the first hand-off
            problem = broker_problem(settings.redis.url)
            if problem:
                hint = "" if shared_frontier else " (--no-handoff crawls without it)"
                typer.echo(f"dragnet crawl: {problem}{hint}", err=True)
                raise typer.Exit(code=1)
        try:
            stats = run_crawl(
                list(target),
                settings=settings,
                proxy_url=proxy,
                out=out,
                shared_frontier=shared_frontier,
                sink=handoff if hand_on else None,
                log_level="WARNING" if quiet else None,
            )
        except (ProfileError, ValueError) as exc:
            typer.echo(f"dragnet crawl: {exc}", err=True)
            raise typer.Exit(code=2) from None
        if json_output:
            typer.echo(stats.to_json())
        if stats.gated:
            # Paused at a human gate: its own status, so a scheduler can tell "needs an analyst"
            # from "broken" (1) and from "done" (0).
            for site in stats.gated:
                typer.echo(
                    f"dragnet crawl: {site} is paused behind a gate that needs a human; solve it in a browser, "
                    f"then resume with 'dragnet session import {site} COOKIE'",
                    err=True,
                )
        elif not stats.items:
            # A crawl that yields nothing is a failure, never a quiet success.
            typer.echo(f"dragnet crawl: {stats.failure_line()}", err=True)
            raise typer.Exit(code=1)
        if stats.items and not json_output:
            typer.echo(
                f"{stats.items} listings from {stats.pages} pages in {stats.elapsed_s:.1f}s "
                f"({stats.pages_per_s} pages/s)" + (f"; written to {out}" if out else "")
            )
        for site, why in stats.failures.items():
            if site not in stats.gated and stats.items:
                typer.echo(f"{site}: no listings: {why}", err=True)
        for site, names in stats.never_matched.items():
            typer.echo(f"{site}: warning: fields that matched on no listing: {', '.join(names)}", err=True)
        if stats.gated:
            raise typer.Exit(code=GATED_EXIT)
        if stats.incomplete:
            # listings came, but not usable ones: a failure a scheduler must see
            reasons = "; ".join(f"{site}: {why}" for site, why in stats.incomplete.items())
            typer.echo(f"dragnet crawl: incomplete listings: {reasons}", err=True)
            raise typer.Exit(code=1)

    def _run_scheduled(command: list[str] | None) -> int:
        settings = get_settings()
        if command is None:
            typer.echo("dragnet crawl: --scheduled needs the top-level dragnet command", err=True)
            return 2
        if not settings.redis.url:
            typer.echo("dragnet crawl: --scheduled needs a broker (DRAGNET_REDIS__URL)", err=True)
            return 2
        problem = broker_problem(settings.redis.url)
        if problem:
            typer.echo(f"dragnet crawl: {problem}", err=True)
            return 1
        stop = threading.Event()
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda *_: stop.set())
        schedule = CrawlSchedule.from_settings(settings)
        run_replica(
            schedule,
            lambda site: [*command, "crawl", site, "--shared-frontier", "--json"],
            poll_s=settings.crawl.schedule_poll_s,
            stop=stop,
        )
        return 0

    session_app = typer.Typer(help="Analyst-supplied sessions for gated sites.", no_args_is_help=True)

    @session_app.command("import")
    def session_import(
        site: str = typer.Argument(..., help="Site profile name."),
        cookie: str = typer.Argument(..., help="Cookie header from a browser: 'NAME=VALUE; ...'."),
    ) -> None:
        """Resume a gated site with a session cookie an analyst obtained by hand."""

        store = SessionStore()
        try:
            previous = store.cookies(site)
            cookies = store.import_cookie(site, cookie)
        except ValueError as exc:
            typer.echo(f"dragnet session import: {exc}", err=True)
            raise typer.Exit(code=2) from None
        replaced = f"; replaced {len(previous)} earlier cookie(s)" if previous else ""
        typer.echo(f"{site}: {len(cookies)} cookie(s) stored ({', '.join(sorted(cookies))}){replaced}; site resumed")

    @session_app.command("status")
    def session_status(site: str = typer.Argument(..., help="Site profile name.")) -> None:
        """Say whether a site is paused behind a gate, and where its gate page was saved."""

        paused = SessionStore().paused(site)
        typer.echo(f"{site}: paused ({paused.get('url')}; page {paused.get('page')})" if paused else f"{site}: active")

    app.add_typer(session_app, name="session")

    sources_app = typer.Typer(
        help="The channel directory: public channels crawled on an interval.", no_args_is_help=True
    )

    @sources_app.command("add")
    def sources_add(
        platform: str = typer.Argument(..., help="Platform: telegram."),
        name: str = typer.Argument(..., help="Public channel name (@name or t.me/name forgiven)."),
        every: float | None = typer.Option(
            None, "--every", help="Re-crawl interval in seconds (default: crawl.telegram_recrawl_s)."
        ),
    ) -> None:
        """Add a public channel to the directory (crawled by profiles with 'directory: true')."""

        state = TelegramState()
        try:
            source, new = state.add_source(platform, name, every or get_settings().crawl.telegram_recrawl_s)
        except ValueError as exc:
            typer.echo(f"dragnet sources add: {exc}", err=True)
            raise typer.Exit(code=2) from None
        finally:
            state.close()
        verb = "added" if new else "updated"
        typer.echo(f"{source.platform}/{source.name}: {verb}, re-crawled every {source.interval_s:g}s")

    @sources_app.command("list")
    def sources_list() -> None:
        """List the directory's channels, their interval and when each was last crawled."""

        state = TelegramState()
        try:
            sources = state.sources()
        finally:
            state.close()
        if not sources:
            typer.echo("no sources; add one with 'dragnet sources add telegram NAME'")
        for source in sources:
            typer.echo(
                f"{source.platform}/{source.name}\tevery {source.interval_s:g}s\t"
                f"last crawled {source.last_crawled or 'never'}"
            )

    app.add_typer(sources_app, name="sources")


def profile_app() -> typer.Typer:
    """``dragnet profile check|new``: try a profile on one page; start a new one."""

    profile_cli = typer.Typer(help="Write and try site profiles.", no_args_is_help=True)

    @profile_cli.command("check")
    def profile_check(
        profile_name: str = typer.Argument(..., metavar="PROFILE", help="Site profile name or YAML path."),
        page: str | None = typer.Argument(
            None,
            metavar="[URL|FILE]",
            help="A URL (fetched through the proxy) or a saved HTML file (default: the first start URL).",
        ),
        url: str | None = typer.Option(
            None, "--url", help="The URL a saved FILE was taken from (default: the first start URL)."
        ),
        proxy: str | None = typer.Option(
            None, "--proxy", help="SOCKS5h proxy (default: tor.socks_url); '' to connect directly."
        ),
    ) -> None:
        """Say what a crawl would make of one page: its kind (gate, index, detail, vendor), each
        selector's result, the links it would follow and those refused as offsite.  Exits 1 with
        the reason when the page matched nothing."""

        settings = get_settings()
        try:
            profile = find_profile(profile_name, settings.crawl.profiles_dir)
        except ProfileError as exc:
            typer.echo(f"dragnet profile check: {exc}", err=True)
            raise typer.Exit(code=2) from None
        saved = Path(page) if page and "://" not in page else None
        if saved is not None:
            try:
                body = saved.read_bytes()[: settings.crawl.max_response_bytes]
            except OSError as exc:
                typer.echo(f"dragnet profile check: cannot read {saved}: {exc.strerror or exc}", err=True)
                raise typer.Exit(code=2) from None
            response = response_for(url or profile.start_urls[0], body)
        elif profile.kind not in ("market", "forum"):
            # a social timeline is rendered by Chromium and a Telegram preview read by its own spider
            typer.echo(
                f"dragnet profile check: fetches market and forum pages; for a {profile.kind} profile, "
                "save the rendered page and check the file",
                err=True,
            )
            raise typer.Exit(code=2)
        else:
            target = page or url or profile.start_urls[0]
            try:
                response = fetch_page(profile, target, settings, proxy if proxy is not None else settings.tor.socks_url)
            except RuntimeError as exc:
                typer.echo(f"dragnet profile check: {target} was not fetched: {exc}", err=True)
                raise typer.Exit(code=1) from None
        report = inspect_page(profile, response)
        for line in report.lines():
            typer.echo(line)
        if report.problem:
            typer.echo(f"dragnet profile check: {report.problem}", err=True)
            raise typer.Exit(code=1)

    @profile_cli.command("new")
    def profile_new(
        name: str = typer.Argument(..., help="The new profile's name (lower-case letters, digits, '-', '_')."),
        kind: str = typer.Option("market", "--kind", help="market or forum."),
        out: Path | None = typer.Option(None, "--out", "-o", help="Where to write it (default: ./NAME.yaml)."),
    ) -> None:
        """Write a commented skeleton profile; it loads once its TODO values are filled in."""

        try:
            text = skeleton(name, kind)
        except ValueError as exc:
            typer.echo(f"dragnet profile new: {exc}", err=True)
            raise typer.Exit(code=2) from None
        path = out or Path(f"{name}.yaml")
        try:
            with path.open("x", encoding="utf-8") as handle:  # never over an existing file
                handle.write(text)
        except FileExistsError:
            typer.echo(f"dragnet profile new: {path} exists; not overwritten (choose another --out)", err=True)
            raise typer.Exit(code=2) from None
        except OSError as exc:
            typer.echo(f"dragnet profile new: cannot write {path}: {exc.strerror or exc}", err=True)
            raise typer.Exit(code=2) from None
        typer.echo(f"{path}: skeleton {kind} profile {name!r}; fill in its TODO values, then try it:")
        typer.echo(f"  dragnet profile check {path} URL")

    return profile_cli
