"""Embedded mode: the same task code in-process, no broker, the embedded store; and the demo
(`dragnet demo --json`) that runs the whole job that way."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from classifier.model_store import ensure_default_model
from dragnet.documents import Listing
from dragnet.settings import DragnetSettings
from index.factory import open_store
from index.store import SearchQuery
from tests.workers.conftest import REPO_ROOT, make_listings
from workers.dlq import open_dlq
from workers.submit import close_embedded_stores, replay, submit_batch, submit_raw


@pytest.fixture
def model() -> Path:
    return ensure_default_model()


def test_embedded_submit_classifies_and_indexes_in_process(settings: DragnetSettings, model: Path) -> None:
    assert settings.redis.url is None
    listings = make_listings(50, "emb")
    submit_batch(listings)
    submit_batch(listings[:10])  # a re-crawl of the same versions: no duplicates
    empty = Listing.new("http://emb.onion/empty", source_kind="forum").model_dump(mode="json")
    submit_raw([empty, {"text": "no schema"}])
    close_embedded_stores()
    with open_store(settings) as store:
        assert store.count() == 50
        stored = list(store.scan(SearchQuery()))
        assert {item.id for item in stored} == {item.id for item in listings}
        assert all(item.classification is not None for item in stored)
        drug = store.count(SearchQuery(is_drug_sale=True))
        assert 0 < drug < 50  # real verdicts on a mix of drug and non-drug titles
    dlq = open_dlq(settings)
    assert sorted(e.reason.split(":")[0] for e in dlq.list()) == ["empty text", "wrong schema"]
    assert replay(settings, ids=[e.id for e in dlq.list() if e.reason.startswith("empty")]) == 1
    assert dlq.size() == 2  # still empty: back with its reason, no other effect
    assert [e.attempts for e in dlq.list() if e.reason.startswith("empty")] == [2]
    close_embedded_stores()


@pytest.mark.integration
@pytest.mark.slow
def test_demo_json_crawls_the_simulated_sites_into_the_embedded_store(
    settings: DragnetSettings, model: Path, tmp_path: Path
) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DRAGNET_")}
    env.update(
        {
            "DRAGNET_ENV": "test",
            "DRAGNET_PATHS__DATA_DIR": str(tmp_path / "demo"),
            "DRAGNET_REDIS__URL": "redis://127.0.0.1:9/0",  # ignored: the demo is embedded
            "DRAGNET_SEARCH__BACKEND": "opensearch",
            "PYTHONPATH": str(REPO_ROOT),
        }
    )
    result = subprocess.run(
        [str(Path(sys.executable).with_name("dragnet")), "demo", "--json", "--listings-per-market", "12"],
        capture_output=True,
        text=True,
        env=env,
        cwd=REPO_ROOT,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    truth = summary["ground_truth"]
    served = sum(count for site, count in truth.items() if site != "hostile")
    assert summary["listings_indexed"] == served
    assert summary["pages_crawled"] > 0 and summary["listings_received"] >= served
    assert summary["dead_lettered"] == 0
    assert 0 < summary["drug_sale_hits"] < served
    assert set(summary["hits_by_market"]) <= {"nightshade", "velvet"} and summary["hits_by_market"]
    assert summary["hits_by_substance"]
    assert (
        set(summary["hits_by_site"]) <= set(truth)
        and sum(summary["hits_by_site"].values()) == summary["drug_sale_hits"]
    )
    top = summary["top_hits"]
    assert top and all(hit["evidence"] or hit["explanation"] for hit in top)
    assert top == sorted(top, key=lambda h: -h["score"])
    assert Path(summary["store"]) == tmp_path / "demo" / "store.sqlite3" and Path(summary["store"]).is_file()
