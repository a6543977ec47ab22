"""``dragnet worker``, ``dragnet demo`` and ``dragnet dlq``."""

from __future__ import annotations

import typer

from dragnet.cli import not_built


def register(app: typer.Typer) -> None:
    @app.command("worker")
    def worker() -> None:
        """Run a Celery worker on the given queues."""
        not_built("worker")

    @app.command("demo")
    def demo() -> None:
        """Run the main job end to end on the embedded default (simulated sites, embedded store)."""
        not_built("demo")

    dlq_app = typer.Typer(help="The dead-letter queue of poison items.", no_args_is_help=True)

    @dlq_app.command("list")
    def dlq_list() -> None:
        """List dead-lettered items with their reasons."""
        not_built("dlq list")

    @dlq_app.command("replay")
    def dlq_replay() -> None:
        """Send dead-lettered items through the pipeline again."""
        not_built("dlq replay")

    app.add_typer(dlq_app, name="dlq")
