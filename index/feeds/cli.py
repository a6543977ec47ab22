"""``dragnet evidence``."""

from __future__ import annotations

from pathlib import Path

import typer

from dragnet.cli import not_built


def register(app: typer.Typer) -> None:
    evidence_app = typer.Typer(help="Evidence bundles.", no_args_is_help=True)

    @evidence_app.command("verify")
    def verify(bundle: Path) -> None:
        """Check every digest of an evidence bundle."""
        not_built("evidence verify")

    app.add_typer(evidence_app, name="evidence")
