"""``dragnet probe`` and ``dragnet lifespan`` (report, import, markets, transitions, confirm, reject,
undo, signal, clones)."""

from __future__ import annotations

import json
import sys
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from lifespan.analytics import PLOT_FORMATS, plots
from lifespan.analytics import report as build_report
from lifespan.clones import detect_clones
from lifespan.fetch import ProxyUnavailable
from lifespan.html import render_page
from lifespan.importer import COLUMNS_HELP, COLUMNS_LIST, import_csv, parse_date
from lifespan.mirrors import MirrorVerification, check_market_mirrors
from lifespan.models import ProbeResult
from lifespan.probes import Prober
from lifespan.registry import register_market, seed_from_profiles
from lifespan.store import LifespanStore


def _when(ts: float | None) -> str:
    return datetime.fromtimestamp(ts, tz=UTC).strftime("%Y-%m-%d %H:%M") if ts else "-"


def _day(ts: float) -> str:
    return datetime.fromtimestamp(ts, tz=UTC).strftime("%Y-%m-%d")


def _num(value: float | None, digits: int = 1) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def register(app: typer.Typer) -> None:
    @app.command("probe")
    def probe(
        market_ids: list[str] | None = typer.Argument(None, help="Markets to probe now (default: all that are due)."),
        all_markets: bool = typer.Option(False, "--all", help="Probe every registered market now."),
        add: list[str] | None = typer.Option(
            None, "--add", metavar="NAME=URL", help="Register a market by its onion URL first."
        ),
        mirrors: bool = typer.Option(False, "--mirrors", help="Also fetch and verify pgp.txt/mirrors.txt/canary.txt."),
        seed: bool = typer.Option(True, "--seed/--no-seed", help="Register markets from the site profiles first."),
        json_output: bool = typer.Option(False, "--json", help="One JSON object per probe."),
        concurrency: int | None = typer.Option(
            None, "--concurrency", min=1, max=256, help="Markets probed at once (default: lifespan.probe_concurrency)."
        ),
    ) -> None:
        """Probe marketplaces over Tor: up, down (kind), gate, login wall, seizure banner, latency."""

        with LifespanStore() as store:
            prober = Prober(store)
            if seed:
                seed_from_profiles(store)
            for entry in add or []:
                name, _, url = entry.partition("=")
                if not name or not url:
                    raise typer.BadParameter(f"--add wants NAME=URL, got {entry!r}")
                register_market(store, name.strip(), url.strip())
            if market_ids:
                targets = list(market_ids)
            elif all_markets:
                targets = [m.market_id for m in store.markets() if m.primary_host]
            else:
                targets = [m.market_id for m in store.due_markets(prober.clock())]
            if not targets:
                typer.echo("no market due for a probe", err=True)
            workers = max(1, min(concurrency or prober.settings.lifespan.probe_concurrency, len(targets) or 1))

            proxy_down: list[str] = []  # Tor unreachable: one reason for the whole run, not one per market

            def one(market_id: str) -> tuple[ProbeResult | None, MirrorVerification | None, str | None]:
                # each market is probed by one thread only, so its state stays serial
                if proxy_down:
                    return None, None, proxy_down[0]
                try:
                    result = prober.probe(market_id)
                except (KeyError, ValueError) as exc:
                    return None, None, str(exc)
                except ProxyUnavailable as exc:
                    proxy_down.append(str(exc))
                    return None, None, str(exc)
                return result, (check_market_mirrors(prober, market_id) if mirrors else None), None

            with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="probe") as pool:
                outcomes = list(pool.map(one, targets))  # in the order asked for
            if proxy_down:
                typer.echo(f"{proxy_down[0]} (is Tor running? tor.socks_url / DRAGNET_TOR__SOCKS_URL)", err=True)
                raise typer.Exit(code=1)
            failed = False
            for market_id, (result, verification, error) in zip(targets, outcomes, strict=True):
                if result is None:
                    typer.echo(f"{market_id}: {error}", err=True)
                    failed = True
                    continue
                if json_output:
                    data = result.model_dump(mode="json")
                    if verification is not None:
                        data["mirror_check"] = verification.as_dict()
                    typer.echo(json.dumps(data))
                else:
                    kind = f" ({result.down_kind.value})" if result.down_kind else ""
                    typer.echo(
                        f"{market_id}: {result.status.value}{kind} {_num(result.latency_ms, 0)} ms "
                        f"-> {result.state.value if result.state else '?'}; next probe {_when(result.next_probe_at)}"
                    )
                    if verification is not None:
                        typer.echo(
                            "  mirrors: "
                            f"{'verified' if verification.ok else 'PROBLEMS: ' + '; '.join(verification.problems)}"
                            f" ({len(verification.signed_hosts)} signed addresses)"
                        )
            if failed:
                raise typer.Exit(code=1)

    lifespan_app = typer.Typer(help="Marketplace lifespan analytics.", no_args_is_help=True)

    @lifespan_app.command("report")
    def report(
        json_output: bool = typer.Option(False, "--json", help="The full report as JSON."),
        confirmed_only: bool = typer.Option(
            False, "--confirmed-only", help="Count suspected closures (exit scam, retirement) as still open."
        ),
        html: Path | None = typer.Option(
            None, "--html", help="Also write the self-contained HTML page (inline SVG plots) here."
        ),
        plot: Path | None = typer.Option(
            None,
            "--plot",
            metavar="FILE",
            help="Also write the Kaplan-Meier curve (censored markets marked) here: PNG or SVG by extension.",
        ),
    ) -> None:
        """Print first/last seen, uptime, Kaplan-Meier survival, median lifespan and closure incidence."""

        plot_format = plot.suffix.lower().lstrip(".") if plot is not None else None
        if plot_format is not None and plot_format not in PLOT_FORMATS:
            raise typer.BadParameter("the file name ends in .png or .svg", param_hint="--plot")
        with LifespanStore() as store:
            rep = build_report(store, confirmed_only=confirmed_only)
        if plot is not None and plot_format is not None:
            drawn = plots(rep["survival"], plot_format).get("survival")
            if drawn is None:
                typer.echo("no market lifespans to plot: import a table or probe markets first", err=True)
                raise typer.Exit(code=1)
            plot.write_bytes(drawn)
        if html is not None:
            html.write_text(render_page(rep, links=False), encoding="utf-8")
        if json_output:
            typer.echo(json.dumps(rep, default=str))
            return
        # piped or redirected: as wide as the rows need, so no value is cut to fit 80 columns
        console = Console() if sys.stdout.isatty() else Console(file=sys.stdout, width=4096, soft_wrap=True)
        table = Table(title="Markets")
        for col in ("market", "source", "state", "first seen", "last / end", "days", "uptime %", "closure"):
            table.add_column(col, overflow="fold")
        for row in rep["markets"]:
            closure = (row["closure_type"] or "open") + (" (suspected)" if row["suspected"] else "")
            cells = (
                row["name"],
                row["source"],
                row["state"] or "-",
                _when(row["start"]),
                _when(row["end"]),
                _num(row["days"]),
                _num(row["uptime_pct"]),
                closure,
            )
            table.add_row(*(Text(str(c)) for c in cells))  # Text: names are data, never rich markup
        console.print(table)
        s = rep["survival"]
        lo, hi = s["median_ci"]
        console.print(
            f"markets {s['n']}, closed {s['events']}, censored {s['censored']}; "
            f"median lifespan {_num(s['median_days'])} days "
            f"({int(100 * (1 - s['alpha']))}% CI {_num(lo)} - {_num(hi)})",
            markup=False,
        )
        console.print(
            "survival: " + ", ".join(f"{d} d: {_num(v, 3)}" for d, v in s["survival_at"].items()), markup=False
        )
        for name, inc in s["incidence"].items():
            console.print(
                f"cumulative incidence {name}: {inc['events']} closures, final {inc['final']:.3f}", markup=False
            )

    @lifespan_app.command("import", help=f"Import a historical market table.\n\n{COLUMNS_HELP}")
    def import_(
        csv_file: Path = typer.Argument(..., exists=True, dir_okay=False, help=f"CSV with columns: {COLUMNS_LIST}."),
        source: str | None = typer.Option(None, "--source", help="Where the table comes from (default: file name)."),
        as_of: str | None = typer.Option(
            None,
            "--as-of",
            metavar="DATE",
            help="Censor markets without an end at this date (default: the table's newest date).",
        ),
    ) -> None:
        try:
            as_of_ts = parse_date(as_of) if as_of else None
        except ValueError as exc:
            raise typer.BadParameter(str(exc), param_hint="--as-of") from None
        with LifespanStore() as store:
            result = import_csv(store, csv_file, source=source, as_of=as_of_ts)
        typer.echo(f"imported {result.imported}, already present {result.duplicates}, errors {len(result.errors)}")
        if result.as_of is not None:
            how = "given with --as-of" if as_of else "the table's newest date"
            typer.echo(f"open markets censored at {_day(result.as_of)} ({how}; {result.open_rows} open)")
        for error in result.errors[:50]:
            typer.echo(f"  {error}", err=True)
        if result.errors and not result.imported:
            raise typer.Exit(code=1)

    @lifespan_app.command("markets")
    def markets(json_output: bool = typer.Option(False, "--json")) -> None:
        """List registered markets with their state and schedule."""

        with LifespanStore() as store:
            rows = store.markets()
        for m in rows:
            if json_output:
                typer.echo(m.model_dump_json())
            else:
                typer.echo(
                    f"{m.market_id}\t{m.state.value}{' (suspected)' if m.suspected else ''}\t"
                    f"{m.primary_host}\tnext {_when(m.next_probe_at)}"
                )

    @lifespan_app.command("transitions")
    def transitions(market_id: str, json_output: bool = typer.Option(False, "--json")) -> None:
        """A market's transitions with their evidence and analyst reviews, and its signals."""

        with LifespanStore() as store:
            market = store.get_market(market_id)
            if market is None:
                typer.echo(f"unknown market {market_id}", err=True)
                raise typer.Exit(code=1)
            changes = store.state_changes(market_id)
            actions = store.analyst_actions(market_id)
            signals = store.signals(market_id)
        if json_output:
            typer.echo(
                json.dumps(
                    {
                        "market": market.model_dump(mode="json"),
                        "transitions": [c.model_dump(mode="json") for c in changes],
                        "actions": actions,
                        "signals": signals,
                    },
                    default=str,
                )
            )
            return
        typer.echo(f"{market.market_id}: {market.state.value}{' (suspected)' if market.suspected else ''}")
        rejected = {a["change_id"] for a in actions if a["action"] == "reject" and not a["undone_at"]}
        for c in changes:
            flags = []
            if c.suspected:
                flags.append("suspected")
            if c.confirmed_by:
                flags.append(f"confirmed by {c.confirmed_by} {_when(c.confirmed_at)}")
            if c.id in rejected:
                flags.append("REJECTED")
            typer.echo(
                f"#{c.id}  {_when(c.at)}  {c.from_state.value} -> {c.to_state.value}  {c.reason}"
                + (f"  [{', '.join(flags)}]" if flags else "")
            )
            for key, value in c.evidence.items():
                typer.echo(f"      {key}: {json.dumps(value, default=str)[:300]}")
        if actions:
            typer.echo("analyst actions:")
            for a in actions:
                undone = f" (undone {_when(a['undone_at'])})" if a["undone_at"] else ""
                why = a["why"] or "-"
                typer.echo(f"  {_when(a['at'])}  {a['action']} #{a['change_id']} by {a['analyst']}: {why}{undone}")
        if signals:
            typer.echo("signals:")
            for sig in signals:
                typer.echo(f"  {_when(sig['at'])}  {sig['kind']}  {sig['detail'] or ''}  ({sig['source'] or '-'})")

    def _review(action: str, market_id: str, change_id: int | None, analyst: str, why: str | None) -> None:
        with LifespanStore() as store:
            try:
                if action == "confirm":
                    if change_id is None:
                        change = store.confirm_last_change(market_id, analyst, why=why)
                        if change is None:
                            raise KeyError("no state change to confirm")
                    else:
                        change = store.confirm_change(market_id, change_id, analyst, why=why)
                    typer.echo(f"{market_id}: #{change.id} {change.to_state.value} confirmed by {analyst}")
                elif action == "reject":
                    assert change_id is not None
                    revert = store.reject_change(market_id, change_id, analyst, why=why)
                    typer.echo(f"{market_id}: #{change_id} rejected by {analyst}; back to {revert.to_state.value}")
                else:
                    assert change_id is not None
                    undone = store.undo_action(market_id, change_id, analyst, why=why)
                    market = store.get_market(market_id)
                    state = market.state.value if market else "?"
                    typer.echo(f"{market_id}: {undone['action']} of #{change_id} undone by {analyst}; now {state}")
            except KeyError as exc:
                typer.echo(f"{market_id}: {exc.args[0] if exc.args else exc}", err=True)
                raise typer.Exit(code=1) from None
            except ValueError as exc:
                typer.echo(f"{market_id}: {exc}", err=True)
                raise typer.Exit(code=1) from None

    @lifespan_app.command("confirm")
    def confirm(
        market_id: str,
        analyst: str = typer.Option(..., "--analyst", help="Who confirms."),
        change: int | None = typer.Option(None, "--change", help="Transition id (see transitions; default: latest)."),
        why: str | None = typer.Option(None, "--why", help="Why, for the audit trail."),
    ) -> None:
        """Confirm a market's transition, e.g. a suspected exit scam (a confirmed closure is sticky)."""
        _review("confirm", market_id, change, analyst, why)

    @lifespan_app.command("reject")
    def reject(
        market_id: str,
        change: int = typer.Option(..., "--change", help="Transition id (the market's current one)."),
        analyst: str = typer.Option(..., "--analyst", help="Who rejects."),
        why: str = typer.Option(..., "--why", help="Why, for the audit trail."),
    ) -> None:
        """Reject a market's current transition: it returns to the state it came from."""
        _review("reject", market_id, change, analyst, why)

    @lifespan_app.command("undo")
    def undo(
        market_id: str,
        change: int = typer.Option(..., "--change", help="Transition id whose confirmation or rejection to undo."),
        analyst: str = typer.Option(..., "--analyst", help="Who undoes."),
        why: str = typer.Option(..., "--why", help="Why, for the audit trail."),
    ) -> None:
        """Undo the latest confirmation or rejection of a transition."""
        _review("undo", market_id, change, analyst, why)

    @lifespan_app.command("signal")
    def signal(
        market_id: str,
        kind: str = typer.Option("complaint", "--kind"),
        source: str | None = typer.Option(None, "--source"),
        detail: str | None = typer.Option(None, "--detail"),
    ) -> None:
        """Record a signal about a market (a complaint, withdrawals disabled) for exit-scam detection."""

        if kind not in {"complaint", "withdrawals_disabled"}:
            raise typer.BadParameter("kind is complaint or withdrawals_disabled")
        with LifespanStore() as store:
            if store.get_market(market_id) is None:
                typer.echo(f"unknown market {market_id}", err=True)
                raise typer.Exit(code=1)
            store.add_signal(market_id, kind, source=source, detail=detail)
        typer.echo(f"{market_id}: {kind} recorded")

    @lifespan_app.command("clones")
    def clones(market_id: str, hosts: list[str] = typer.Argument(..., help="Candidate onion hosts.")) -> None:
        """Compare candidate sites with a market's page; flag unlisted clones as likely phishing."""

        with LifespanStore() as store:
            for f in detect_clones(Prober(store), market_id, hosts):
                verdict = (
                    "PHISHING (unlisted clone)"
                    if f.phishing
                    else ("listed mirror" if f.listed and f.is_clone else ("clone" if f.is_clone else "different"))
                )
                typer.echo(f"{f.host}\tsimilarity {f.similarity:.2f}\t{verdict}{'  ' + f.error if f.error else ''}")

    app.add_typer(lifespan_app, name="lifespan")
