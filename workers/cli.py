"""``dragnet worker`` and ``dragnet dlq``."""

from __future__ import annotations

import json
from dataclasses import asdict
from datetime import UTC, datetime

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from dragnet.broker import broker_problem
from dragnet.settings import get_settings
from workers.app import app as celery_app
from workers.dlq import open_dlq
from workers.submit import replay


def register(app: typer.Typer) -> None:
    @app.command("worker")
    def worker(
        queues: str = typer.Option(
            "classify,index,feeds,probes",
            "--queues",
            "-Q",
            help="Comma-separated queues to consume (classify, index, feeds, probes).",
        ),
        concurrency: int | None = typer.Option(
            None, "--concurrency", "-c", help="Worker processes (default: one per CPU)."
        ),
        autoscale: str | None = typer.Option(
            None, "--autoscale", help="MAX,MIN processes (default: settings.workers.autoscale)."
        ),
        pool: str = typer.Option("prefork", "--pool", help="prefork (CPU/GPU work), solo, threads."),
        hostname: str | None = typer.Option(None, "--hostname", "-n", help="Node name, e.g. classify@%h."),
        beat: bool = typer.Option(
            False, "--beat", help="Also run the beat scheduler in this worker (or `dragnet beat` alone)."
        ),
        loglevel: str = typer.Option("INFO", "--loglevel", "-l"),
    ) -> None:
        """Run a Celery worker on the given queues (same as ``celery -A workers.app worker``)."""

        settings = get_settings()
        if not settings.redis.url:
            typer.echo(
                "dragnet worker: no broker configured; set DRAGNET_REDIS__URL (or run `dragnet demo` "
                "for the embedded, single-process mode)",
                err=True,
            )
            raise typer.Exit(code=2)
        problem = broker_problem(settings.redis.url)
        if problem:
            typer.echo(f"dragnet worker: {problem}", err=True)
            raise typer.Exit(code=1)
        argv = ["worker", "-Q", queues, "--loglevel", loglevel, "--pool", pool, "--without-gossip", "--without-mingle"]
        if concurrency:
            argv += ["--concurrency", str(concurrency)]
        scale = autoscale or settings.workers.autoscale
        if scale:
            argv += ["--autoscale", scale]
        if hostname:
            argv += ["--hostname", hostname]
        if beat:
            argv += ["--beat", "--schedule", str(settings.paths.data_dir / "celerybeat-schedule")]
        settings.paths.data_dir.mkdir(parents=True, exist_ok=True)
        celery_app.worker_main(argv)

    @app.command("beat")
    def beat(loglevel: str = typer.Option("INFO", "--loglevel", "-l")) -> None:
        """Run the beat scheduler alone: probes, feeds, re-checks and crawl rounds (one per deployment)."""

        settings = get_settings()
        if not settings.redis.url:
            typer.echo("dragnet beat: no broker configured; set DRAGNET_REDIS__URL", err=True)
            raise typer.Exit(code=2)
        problem = broker_problem(settings.redis.url)
        if problem:
            typer.echo(f"dragnet beat: {problem}", err=True)
            raise typer.Exit(code=1)
        settings.paths.data_dir.mkdir(parents=True, exist_ok=True)
        schedule = str(settings.paths.data_dir / "celerybeat-schedule")
        celery_app.start(["beat", "--schedule", schedule, "--loglevel", loglevel])

    dlq_app = typer.Typer(help="The dead-letter queue of poison items.", no_args_is_help=True)

    @dlq_app.command("list")
    def dlq_list(
        limit: int = typer.Option(100, "--limit", help="At most this many entries."),
        json_output: bool = typer.Option(False, "--json", help="One JSON object a line."),
    ) -> None:
        """List dead-lettered items with their reasons."""

        dlq = open_dlq()
        entries = dlq.list(limit)
        if json_output:
            for entry in entries:
                typer.echo(json.dumps(asdict(entry)))
            return
        table = Table(title=f"dead-letter queue: {dlq.size()} item(s)")
        for column in ("id", "failed at (UTC)", "task", "reason", "item"):
            table.add_column(column, overflow="fold")
        for entry in entries:
            when = datetime.fromtimestamp(entry.failed_at, UTC).strftime("%Y-%m-%d %H:%M:%S")
            table.add_row(
                entry.id, when, entry.task.rsplit(".", 1)[-1], escape(entry.reason), escape(entry.preview[:80])
            )  # scraped text: never rich markup
        Console().print(table)

    @dlq_app.command("replay")
    def dlq_replay(
        ids: list[str] = typer.Argument(None, help="Entry ids to replay (see `dragnet dlq list`)."),
        all_: bool = typer.Option(False, "--all", help="Replay every entry."),
    ) -> None:
        """Send dead-lettered items through the pipeline again."""

        if not ids and not all_:
            typer.echo("dragnet dlq replay: give entry ids or --all", err=True)
            raise typer.Exit(code=2)
        count = replay(ids=None if all_ else list(ids))
        typer.echo(f"replayed {count} item(s)")

    app.add_typer(dlq_app, name="dlq")
