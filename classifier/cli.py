"""``dragnet train``, ``dragnet evaluate`` and ``dragnet classify``."""

from __future__ import annotations

import typer

from dragnet.cli import not_built


def register(app: typer.Typer) -> None:
    @app.command("train")
    def train() -> None:
        """Fine-tune the drug-sale classifier from the base encoder."""
        not_built("train")

    @app.command("evaluate")
    def evaluate() -> None:
        """Evaluate a model on held-out data and write its report."""
        not_built("evaluate")

    @app.command("classify")
    def classify() -> None:
        """Classify JSONL posts (id, text) into JSONL verdicts."""
        not_built("classify")
