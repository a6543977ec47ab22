"""Two crawler processes share one Redis frontier (scrapy-redis scheduler + freshness
dupefilter) and split a crawl of more than 2,000 pages with zero duplicates and zero misses;
a second crawl inside the freshness window fetches nothing again, and a listing that changed
becomes a new version."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest
import redis

from crawlers.simsites import SimulatedWorld
from dragnet.documents import Listing
from tests.crawlers.conftest import REPO, run_crawl_subprocess

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def _start(data_dir: Path, redis_url: str, proxy_url: str, out: Path) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DRAGNET_")}
    env.update(
        {
            "DRAGNET_ENV": "test",
            "DRAGNET_PATHS__DATA_DIR": str(data_dir),
            "DRAGNET_REDIS__URL": redis_url,
            "DRAGNET_CRAWL__RETRY_BACKOFF_S": "0.2",
            "DRAGNET_LOG_LEVEL": "WARNING",
        }
    )
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "crawlers.runner",
            "nightshade",
            "--shared-frontier",
            "--proxy",
            proxy_url,
            "--out",
            str(out),
        ],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _finish(proc: subprocess.Popen[str], out: Path) -> tuple[dict, list[Listing]]:
    stdout, stderr = proc.communicate(timeout=400)
    line = next((entry for entry in reversed(stdout.splitlines()) if entry.startswith("CRAWLSTATS ")), None)
    assert line is not None, stderr[-4000:]
    items = [Listing.model_validate_json(entry) for entry in out.read_text().splitlines()] if out.is_file() else []
    return json.loads(line[len("CRAWLSTATS ") :]), items


def test_two_processes_split_one_frontier(redis_server, settings, tmp_path: Path) -> None:
    client = redis.Redis.from_url(redis_server.url)
    for key in client.scan_iter("nightshade:*"):
        client.delete(key)
    client.delete("dragnet:crawl:versions")

    with SimulatedWorld(2000, social_posts=1, forum_posts=1, session_views=400) as world:
        truth = {t["url"] for t in world.ground_truth()["nightshade"]}
        procs = [
            (
                _start(tmp_path / f"d{i}", redis_server.url, world.proxy_url, tmp_path / f"p{i}.jsonl"),
                tmp_path / f"p{i}.jsonl",
            )
            for i in range(2)
        ]
        results = [_finish(proc, out) for proc, out in procs]

        pages = [r[0]["pages"] for r in results]
        urls = [[item.canonical_url for item in r[1]] for r in results]
        everything = urls[0] + urls[1]
        assert len(everything) == len(set(everything)), "a listing was crawled by both processes"
        assert set(everything) == truth, f"missed {len(truth - set(everything))} listings"
        assert sum(pages) >= 2000
        assert all(len(u) > 0 for u in urls), f"one process did all the work: {[len(u) for u in urls]}"
        print(f"split: listings {[len(u) for u in urls]}, pages {pages}")

        # Inside the freshness window the shared dupefilter remembers: nothing is fetched again.
        again, again_items = _finish(
            _start(tmp_path / "d2", redis_server.url, world.proxy_url, tmp_path / "again.jsonl"),
            tmp_path / "again.jsonl",
        )
        assert again_items == []


@pytest.mark.integration
def test_changed_listing_becomes_new_version(settings, tmp_path: Path) -> None:
    """Re-crawled, an unchanged listing keeps its version; a changed one becomes version 2."""

    with SimulatedWorld(20, faults=False, social_posts=1, forum_posts=1) as world:
        market = world.sites["nightshade"]
        first = run_crawl_subprocess(
            ["nightshade"], data_dir=settings.paths.data_dir, proxy_url=world.proxy_url, out=tmp_path / "first.jsonl"
        )
        assert {item.version for item in first.listings} == {1} and len(first.listings) == 20
        changed = market.data.items[0]
        market.data.items[0] = replace(changed, description=changed.description + " Price drop this week.")
        market.items_by_id[changed.item_id] = market.data.items[0]
        later = run_crawl_subprocess(
            ["nightshade"], data_dir=settings.paths.data_dir, proxy_url=world.proxy_url, out=tmp_path / "later.jsonl"
        )
        versions = {item.canonical_url: item.version for item in later.listings}
        assert len(versions) == 20
        assert versions.pop(market.base_url + market.item_path(changed)) == 2
        assert set(versions.values()) == {1}
        first_seen = {i.canonical_url: i.first_seen for i in first.listings}
        assert all(i.first_seen == first_seen[i.canonical_url] for i in later.listings)
