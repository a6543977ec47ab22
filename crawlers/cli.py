"""``dragnet crawl`` and ``dragnet session``."""

from __future__ import annotations

import typer

from dragnet.cli import not_built


def register(app: typer.Typer) -> None:
    @app.command("crawl")
    def crawl(target: str = typer.Argument(..., help="Site profile name or path, or spider name.")) -> None:
        """Crawl one site profile (or spider) and hand its items on."""
        not_built("crawl")

    session_app = typer.Typer(help="Analyst-supplied sessions for gated sites.", no_args_is_help=True)

    @session_app.command("import")
    def session_import(site: str, cookie: str) -> None:
        """Resume a gated site with a session cookie an analyst obtained by hand."""
        not_built("session import")

    app.add_typer(session_app, name="session")
