"""``dragnet feeds ...`` against the real embedded listing store."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from dragnet.cli import app
from dragnet.settings import DragnetSettings
from index.factory import open_store
from takedown.service import FeedService
from tests.takedown.helpers import make_hit


def test_ingest_review_and_metrics_from_the_command_line(feed_settings: DragnetSettings, tmp_path: Path) -> None:
    hits = [make_hit(f"https://fakegram.test/p/K{i}", f"xanax bars lot {i}") for i in range(7)]
    not_a_hit = make_hit("https://fakegram.test/p/OK", "cooking recipes")
    not_a_hit.classification = not_a_hit.classification.model_copy(update={"is_drug_sale": False, "score": 0.1})
    elsewhere = make_hit("https://example.com/p/1", "xanax bars")  # no platform to tell
    with open_store(feed_settings) as store:
        store.upsert(hits + [not_a_hit, elsewhere])
        store.refresh()
    runner = CliRunner()
    result = runner.invoke(app, ["feeds", "ingest"])
    assert result.exit_code == 0, result.output
    assert "created 7," in result.output and "skipped 1" in result.output
    again = runner.invoke(app, ["feeds", "ingest"])
    assert "created 0," in again.output and "duplicates 7" in again.output
    service = FeedService(feed_settings)
    nid = service.store.list(platform="fakegram", status="new")[0].id
    assert runner.invoke(app, ["feeds", "review", nid, "approve", "--by", "ann"]).exit_code == 0
    assert service.get(nid).history[-1].by == "analyst:ann"
    plot, page = tmp_path / "m.svg", tmp_path / "m.html"
    out = runner.invoke(app, ["feeds", "metrics", "--plot", str(plot), "--html", str(page)])
    assert out.exit_code == 0, out.output
    figures = json.loads(out.output)
    assert figures["platforms"]["fakegram"]["notices"] == 7 and figures["platforms"]["fakegram"]["pending_review"] == 6
    assert b"<svg" in plot.read_bytes() and "m.svg" in page.read_text()
    listing = runner.invoke(app, ["feeds", "platforms"])
    assert "telegram" in listing.output and "fakegram" in listing.output
