"""``dragnet bench pipeline`` at a tiny scale: the fleet serves what it says, and the benchmark's
JSON has every figure it promises, with every crawled listing searchable in the store.  No
timing is asserted here (figures belong to the benchmark's own output)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from bench.pipeline import parse_counts, percentile, split
from classifier.model_store import ensure_default_model
from crawlers.profiles import load_profile
from crawlers.simsites.fleet import MarketFleet, market_sizes
from dragnet.settings import DragnetSettings

REPO_ROOT = Path(__file__).resolve().parents[2]


def test_market_sizes_spread_listings_over_markets() -> None:
    assert market_sizes(3, 10) == [4, 3, 3]
    assert sum(market_sizes(20, 50_000)) == 50_000
    with pytest.raises(ValueError):
        market_sizes(5, 4)


def test_counts_and_helpers() -> None:
    assert parse_counts("1,2,4") == [1, 2, 4]
    for bad in ("", "0,1", "a,2"):
        with pytest.raises(ValueError):
            parse_counts(bad)
    assert percentile([3.0, 1.0, 2.0, 4.0], 0.5) == 2.0
    assert percentile([], 0.5) is None
    paths = [Path(f"p{n}") for n in range(5)]
    assert split(paths, 2) == [[Path("p0"), Path("p2"), Path("p4")], [Path("p1"), Path("p3")]]
    assert split(paths[:1], 4) == [[Path("p0")]]


@pytest.mark.integration
def test_fleet_serves_distinct_markets_with_profiles(settings: DragnetSettings, tmp_path: Path) -> None:
    with MarketFleet(4, 30, profiles_dir=tmp_path / "profiles") as fleet:
        names = list(fleet.sites)
        assert len(names) == len(set(names)) == 4
        assert {fleet.templates[n] for n in names} == {"nightshade", "velvet"}
        onions = {host for site in fleet.sites.values() for host in site.onion_hosts}
        assert len(onions) == 8
        profiles = [load_profile(path) for path in fleet.profile_paths]
        assert [p.name for p in profiles] == names
        urls = fleet.listing_urls()
        assert len(urls) == len(set(urls)) == 30
        for profile, site in zip(profiles, fleet.sites.values(), strict=True):
            assert profile.start_urls == [site.direct_url + site.index_path(1)]  # type: ignore[union-attr]
        with urllib.request.urlopen(urls[-1], timeout=10) as response:
            assert response.status == 200
        paced = fleet.write_profiles(tmp_path / "paced", names[:1], delay_s=0.5)
        assert load_profile(paced[0]).delay_s == 0.5
        assert load_profile(paced[0]).concurrency == 1


@pytest.mark.integration
@pytest.mark.slow
@pytest.mark.timeout(1800)  # worker starts and crawls for every phase: a few minutes
def test_bench_pipeline_json_at_tiny_scale(settings: DragnetSettings, tmp_path: Path) -> None:
    ensure_default_model()  # trained once per machine; the workers would wait for it otherwise
    env = {k: v for k, v in os.environ.items() if not k.startswith("DRAGNET_")}
    env.update({"DRAGNET_ENV": "test", "DRAGNET_PATHS__DATA_DIR": str(tmp_path / "data"), "PYTHONPATH": str(REPO_ROOT)})
    argv = [str(Path(sys.executable).with_name("dragnet")), "bench", "pipeline", "--json"]
    argv += ["--markets", "2", "--listings", "40", "--workers", "1,2", "--crawlers", "1", "--store", "embedded"]
    proc = subprocess.run(argv, env=env, cwd=REPO_ROOT, capture_output=True, text=True, timeout=1800)
    assert proc.returncode == 0, proc.stderr[-4000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])

    assert result["benchmark"] == "pipeline"
    assert result["machine"]["cpu_count"] == os.cpu_count()
    assert 1 <= result["machine"]["affinity_cpus"] <= os.cpu_count()
    assert result["world"]["markets"] == 2 and result["world"]["crawled"] == 40
    assert [row["crawlers"] for row in result["crawl"]] == [1]
    assert all(row["items"] == 40 for row in result["crawl"])
    assert [row["workers"] for row in result["configs"]] == [1, 2]
    for row in result["configs"]:
        assert row["classify_stage"]["processes_with_one_engine_thread"] == row["workers"]
        assert row["backlog"]["searchable"] == row["backlog"]["items"] == 40
        assert [pipe["crawlers"] for pipe in row["pipeline"]] == [1]
        for pipe in row["pipeline"]:
            # every crawled listing became searchable, and its latency was measured
            assert pipe["complete"] and pipe["crawled"] == pipe["items"] == pipe["searchable"] == 40
            assert 0 <= pipe["latency_p50_s"] <= pipe["latency_p95_s"]
            assert pipe["items_per_s"] > 0
        paced = row["paced"]
        assert paced["complete"] and paced["searchable"] == paced["items"] == paced["crawled"]
        assert paced["latency_p50_s"] is not None
    assert result["configs"][1]["paced"]["target_items_per_s"] == result["configs"][0]["paced"]["target_items_per_s"]
    assert set(result["scaling_vs_baseline"]) == {"1", "2"}
    assert set(result["scaling_vs_baseline"]["2"]) == {
        "classify_stage",
        "backlog",
        "pipeline_1_crawlers",
    }
    assert result["scaling_vs_baseline"]["1"]["backlog"] == 1.0
    assert "worker processes" in result["bend"]
    assert result["complete"] is True
