"""``dragnet train``, ``dragnet evaluate`` and ``dragnet classify``."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

import typer

from classifier.corpus import CorpusPost
from classifier.engine import load_engine
from classifier.evaluate import run_evaluation
from classifier.meta import ModelMeta
from classifier.model_store import ensure_default_model
from classifier.train import TrainConfig
from classifier.train import train as run
from dragnet.settings import get_settings

MAX_LINE_BYTES = 4 * 1024 * 1024  # a hostile input line larger than this is refused, not parsed


def _open_in(path: str) -> IO[str]:
    # utf-8-sig: a file saved by a Windows editor starts with a byte-order mark
    return sys.stdin if path == "-" else open(path, encoding="utf-8-sig", errors="replace")


def _open_out(path: str) -> IO[str]:
    return sys.stdout if path == "-" else open(path, "w", encoding="utf-8")


def _records(stream: IO[str]) -> Iterator[tuple[int, Any, str | None, str | None]]:
    """(line number, id, text, error) per non-blank input line."""
    for number, line in enumerate(stream, start=1):
        if not line.strip():
            continue
        if len(line) > MAX_LINE_BYTES:
            yield number, None, None, f"line {number}: longer than {MAX_LINE_BYTES} characters"
            continue
        try:
            record = json.loads(line.lstrip("\ufeff"))
        except json.JSONDecodeError as exc:
            yield number, None, None, f"line {number}: not valid JSON ({exc.msg})"
            continue
        except (RecursionError, ValueError) as exc:  # nested beyond the parser's depth, huge numbers
            yield number, None, None, f"line {number}: unreadable JSON ({type(exc).__name__})"
            continue
        if not isinstance(record, dict):
            yield number, None, None, f"line {number}: expected a JSON object with id and text"
            continue
        rid = record.get("id", number)
        if isinstance(rid, bool) or not isinstance(rid, str | int):
            yield number, None, None, f"line {number}: id must be a string or an integer"
            continue
        text = record.get("text")
        if text is None:
            yield number, rid, None, f"line {number}: no text field"
        elif not isinstance(text, str):
            yield number, rid, None, f"line {number}: text is not a string"
        elif not text.strip():
            yield number, rid, None, f"line {number}: text is empty"
        else:
            title = record.get("title")
            if isinstance(title, str) and title.strip() and title not in text:
                text = f"{title}\n{text}"
            yield number, rid, text, None


def classify_stream(engine: Any, source: IO[str], sink: IO[str], batch_size: int = 256) -> dict[str, int]:
    """Stream JSONL verdicts; a bad line gets an ``error`` line and the rest go on."""
    counts = {"lines": 0, "positives": 0, "errors": 0}
    pending: list[tuple[Any, str]] = []

    def verdicts_of(batch: list[tuple[Any, str]]) -> list[Any]:
        """One engine call per batch; if the batch fails, one call per line, so a text the
        engine chokes on costs only its own line (an Exception object stands for its verdict)."""
        try:
            return list(engine.classify([t for _, t in batch]))
        except Exception:  # noqa: BLE001 - narrowed down line by line below
            out: list[Any] = []
            for _, text in batch:
                try:
                    out.extend(engine.classify([text]))
                except Exception as exc:  # noqa: BLE001 - reported on the line's own error record
                    out.append(exc)
            return out

    def flush() -> None:
        if not pending:
            return
        for (rid, _), v in zip(pending, verdicts_of(pending), strict=True):
            if isinstance(v, Exception):
                sink.write(json.dumps({"id": rid, "error": f"classifier error: {v!r}"[:500]}) + "\n")
                counts["errors"] += 1
                continue
            out = {
                "id": rid,
                "is_drug_sale": v.is_drug_sale,
                "intent": v.intent,
                "score": round(v.score, 6),
                "substances": sorted(v.substances, key=lambda k: -v.substances[k]),
                "substance_scores": v.substances,
                "evidence": [e.model_dump(exclude_none=True) for e in v.evidence],
                "explanation": v.explanation,
                "threshold": round(v.threshold, 6),
                "model_version": v.model_version,
            }
            sink.write(json.dumps(out, ensure_ascii=False) + "\n")
            counts["positives"] += int(v.is_drug_sale)
        sink.flush()
        pending.clear()

    for _number, rid, text, error in _records(source):
        counts["lines"] += 1
        if error is not None:
            flush()  # keep output in input order
            sink.write(json.dumps({"id": rid, "error": error}, ensure_ascii=False) + "\n")
            counts["errors"] += 1
            continue
        pending.append((rid, text or ""))
        if len(pending) >= batch_size:
            flush()
    flush()
    return counts


FeedbackSource = Callable[[], list[CorpusPost]]


def register(app: typer.Typer, feedback: FeedbackSource | None = None) -> None:
    """Add the classifier's commands; ``feedback`` supplies the labelled posts of the takedown
    workflow for ``dragnet train --with-feedback`` (the top-level CLI passes it in)."""

    @app.command("train")
    def train(
        quick: bool = typer.Option(False, "--quick", help="Same as --mode quick."),
        mode: str = typer.Option(
            "full",
            "--mode",
            help="quick: 2 layers in minutes (experiments); default: the model classify and demo build "
            "(6 layers, 10-15 min on 2 cores); full: 6 layers, 2 passes over all data (about an hour).",
        ),
        output: Path | None = typer.Option(
            None, "--output", "-o", help="Model directory (default: the settings' model_dir)."
        ),
        seed: int | None = typer.Option(None, help="Random seed (default: classifier.seed)."),
        layers: int | None = typer.Option(None, help="Encoder layers to keep (quick 2, default and full 6)."),
        epochs: float | None = typer.Option(None, help="Passes over the training data."),
        with_feedback: bool = typer.Option(
            False, "--with-feedback", help="Fold analysts' and platforms' decisions on notices into training."
        ),
    ) -> None:
        """Fine-tune the drug-sale classifier from the base encoder, calibrate it, pick its
        threshold on validation, evaluate it on held-out data and write the model card."""

        settings = get_settings()
        kw: dict[str, Any] = {
            "seed": seed if seed is not None else settings.classifier.seed,
            "precision_target": settings.classifier.precision_target,
        }
        if layers is not None:
            kw["layers"] = layers
        if epochs is not None:
            kw["epochs"] = epochs
        try:
            config = TrainConfig.of_mode("quick" if quick else mode, **kw)
        except ValueError as exc:
            typer.echo(f"dragnet train: {exc}", err=True)
            raise typer.Exit(code=2) from None
        target = output or settings.model_dir
        posts = None
        if with_feedback:
            if feedback is None:
                typer.echo("dragnet train: no feedback source is wired into this command", err=True)
                raise typer.Exit(code=2)
            posts = feedback()
            typer.echo(f"feedback: {len(posts)} decided notices ({sum(p.sale for p in posts)} sales)", err=True)
        run(target, config, settings.training_data_dir, show_progress=True, feedback=posts)

        meta = ModelMeta.load(target)
        lg = meta.metrics.get("by_group", {}).get("listings", {})
        gg = meta.metrics.get("by_group", {}).get("generated", {})
        typer.echo(
            f"model {meta.version} in {target}: trained in {meta.training_seconds}s; "
            f"listings F1 {lg.get('f1')} substance macro-F1 {lg.get('substances', {}).get('macro_f1')}; "
            f"generated F1 {gg.get('f1')} substance macro-F1 {gg.get('substances', {}).get('macro_f1')}; "
            f"threshold {meta.threshold:.4f}"
        )

    @app.command("evaluate")
    def evaluate(
        model: Path | None = typer.Option(None, "--model", help="Model directory (default: the settings' model)."),
        report: Path | None = typer.Option(None, "--report", help="Also write the Markdown report here."),
        news: Path | None = typer.Option(
            None,
            "--news",
            help="JSONL of sentences from real news reports (text per line): report how many are flagged.",
        ),
    ) -> None:
        """Evaluate a model on its held-out data (vendor-split listings, written and generated
        posts, pharmacy and shop text) and, apart, on the frozen out-of-distribution set of posts
        written by independent authors; write the figures into its card."""

        settings = get_settings()
        if model is None:
            model = ensure_default_model(show_progress=True)
        if news is not None and not news.is_file():
            typer.echo(f"dragnet evaluate: no such file {news}", err=True)
            raise typer.Exit(code=2)
        metrics = run_evaluation(model, settings.training_data_dir, news=news)
        text = (model / "evaluation.md").read_text(encoding="utf-8")
        if report is not None:
            report.write_text(text, encoding="utf-8")
        typer.echo(text)
        lg = metrics["by_group"].get("listings", {})
        typer.echo(
            f"listings F1 {lg.get('f1')} substance macro-F1 {lg.get('substances', {}).get('macro_f1')}", err=True
        )
        ood = metrics["ood"]
        typer.echo(
            f"out-of-distribution set: F1 {ood['overall']['f1']} (precision {ood['overall']['precision']}, recall "
            f"{ood['overall']['recall']}), substance macro-F1 {ood['substances']['macro_f1']}, intent macro-F1 "
            f"{(ood.get('intent') or {}).get('macro_f1')}",
            err=True,
        )

    @app.command("classify")
    def classify(
        input: str = typer.Option(..., "--input", "-i", help="JSONL with id and text per line ('-': stdin)."),
        output: str = typer.Option("-", "--output", "-o", help="JSONL verdicts ('-': stdout)."),
        model: Path | None = typer.Option(
            None, "--model", help="Model directory (default: the settings' model, built if missing)."
        ),
        device: str = typer.Option("auto", help="auto, cpu or cuda."),
    ) -> None:
        """Classify JSONL posts (id, text) into JSONL verdicts: id, is_drug_sale, score,
        substances, evidence (+ explanation).  A line without text gets an error line."""

        if model is not None and not (model / "dragnet.json").is_file():
            typer.echo(f"dragnet classify: {model} is not a Dragnet model directory (no dragnet.json)", err=True)
            raise typer.Exit(code=2)
        if model is None:
            model = ensure_default_model(show_progress=True)
        try:
            source = _open_in(input)
        except OSError as exc:
            typer.echo(f"dragnet classify: cannot read {input}: {exc}", err=True)
            raise typer.Exit(code=2) from None
        engine = load_engine(model, device=device)
        sink = _open_out(output)
        try:
            counts = classify_stream(engine, source, sink)
        finally:
            if sink is not sys.stdout:
                sink.close()
            if source is not sys.stdin:
                source.close()
        typer.echo(
            f"classified {counts['lines'] - counts['errors']} lines: {counts['positives']} offers, "
            f"{counts['errors']} errors",
            err=True,
        )
        if counts["lines"] == counts["errors"]:  # nothing classified: a script must not read this as success
            reason = "no input lines" if counts["lines"] == 0 else "no valid line in the input"
            typer.echo(f"dragnet classify: {reason}", err=True)
            raise typer.Exit(code=1)
