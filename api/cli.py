"""``dragnet serve``."""

from __future__ import annotations

import typer

from dragnet.cli import not_built


def register(app: typer.Typer) -> None:
    @app.command("serve")
    def serve() -> None:
        """Serve the API and the analyst UI."""
        not_built("serve")
