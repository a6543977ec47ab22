"""``dragnet probe`` and ``dragnet lifespan``."""

from __future__ import annotations

import typer

from dragnet.cli import not_built


def register(app: typer.Typer) -> None:
    @app.command("probe")
    def probe() -> None:
        """Probe marketplaces for reachability, gates and seizure banners."""
        not_built("probe")

    lifespan_app = typer.Typer(help="Marketplace lifespan analytics.", no_args_is_help=True)

    @lifespan_app.command("report")
    def report() -> None:
        """Print uptime, survival and closure figures."""
        not_built("lifespan report")

    app.add_typer(lifespan_app, name="lifespan")
