"""``dragnet crawl`` and ``dragnet session``."""

from __future__ import annotations

import signal
import threading
from pathlib import Path

import typer

from crawlers.pipelines import Sink
from crawlers.profiles import ProfileError
from crawlers.runner import SPIDER_KINDS, run_crawl
from crawlers.schedule import CrawlSchedule, run_replica
from crawlers.sessions import SessionStore
from crawlers.telegram import TelegramState
from dragnet.broker import broker_problem
from dragnet.settings import get_settings


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
        out: Path | None = typer.Option(None, "--out", "-o", help="Also write the listings to this JSONL file."),
        proxy: str | None = typer.Option(
            None, "--proxy", help="SOCKS5h proxy (default: tor.socks_url); '' to connect directly."
        ),
        shared_frontier: bool = typer.Option(
            False, "--shared-frontier", help="Share scheduler and dupefilter through Redis (redis.url)."
        ),
        hand_on: bool = typer.Option(True, "--handoff/--no-handoff", help="Hand listings to the workers."),
        json_output: bool = typer.Option(False, "--json", help="Print the crawl's figures as one JSON line."),
    ) -> None:
        """Crawl site profiles (or spiders) and hand their listings on."""

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
            )
        except (ProfileError, ValueError) as exc:
            typer.echo(f"dragnet crawl: {exc}", err=True)
            raise typer.Exit(code=2) from None
        if not stats.items:
            # A crawl that yields nothing is a failure, never a quiet success.
            if json_output:
                typer.echo(stats.to_json())
            typer.echo(f"dragnet crawl: {stats.failure_line()}", err=True)
            raise typer.Exit(code=1)
        if json_output:
            typer.echo(stats.to_json())
        else:
            typer.echo(
                f"{stats.items} listings from {stats.pages} pages in {stats.elapsed_s:.1f}s "
                f"({stats.pages_per_s} pages/s)" + (f"; written to {out}" if out else "")
            )
        for site in stats.gated:
            typer.echo(f"{site}: paused behind a gate; resume with 'dragnet session import {site} COOKIE'", err=True)
        for site, why in stats.failures.items():
            if site not in stats.gated:
                typer.echo(f"{site}: no listings: {why}", err=True)

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
