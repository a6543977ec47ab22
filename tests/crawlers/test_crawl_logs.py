"""What ``dragnet crawl`` prints, run as an operator runs it (the real command, a real crawl of a
simulated market through the SOCKS5 proxy): every log record once, no listing dumped into the
log, a progress line unless quiet."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from crawlers.simsites import SimulatedWorld
from dragnet.documents import Listing
from tests.crawlers.conftest import REPO

pytestmark = pytest.mark.integration

RECORD = re.compile(r"^\d\d:\d\d:\d\d (DEBUG|INFO|WARNING|ERROR|CRITICAL)\s+(\S+): (.*)$")
SCRAPY_FORMAT = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d \[")  # Scrapy's own root handler
PROGRESS = re.compile(r"^crawl: \d+ pages, \d+ listings, \d+ errors, [\d.]+ pages/s")


@pytest.fixture(scope="module")
def world(socks_proxy: Any) -> Iterator[Any]:
    """Markets without their captcha gate (a gated site pauses before any listing); faults stay on."""
    with SimulatedWorld(30, proxy=socks_proxy, gates=False, forum_posts=1, social_posts=1) as sim:
        yield sim


def dragnet_crawl(world: Any, tmp_path: Path, *args: str, level: str = "INFO") -> tuple[str, list[Listing]]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DRAGNET_")}
    env.update(
        {
            "PYTHONPATH": str(REPO),
            "DRAGNET_ENV": "test",
            "DRAGNET_PATHS__DATA_DIR": str(tmp_path / "data"),
            "DRAGNET_CRAWL__RETRY_BACKOFF_S": "0.1",
            "DRAGNET_CRAWL__PROGRESS_INTERVAL_S": "0.3",
            "DRAGNET_LOG_LEVEL": level,
        }
    )
    out = tmp_path / "out.jsonl"
    proc = subprocess.run(
        [str(Path(sys.executable).with_name("dragnet")), "crawl", "velvet", "--no-handoff", "--out", str(out)]
        + ["--proxy", world.proxy_url, *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "listings from" in proc.stdout
    listings = [Listing.model_validate_json(line) for line in out.read_text().splitlines() if line.strip()]
    assert listings
    return proc.stderr, listings


def dumped(listings: list[Listing], log: str) -> list[str]:
    """Listing contents (titles) that made it into the log."""
    return [item.title for item in listings if item.title and len(item.title) > 12 and item.title in log]


def test_each_record_once_and_no_item_dump_at_info(world: Any, tmp_path: Path) -> None:
    log, listings = dragnet_crawl(world, tmp_path)
    lines = log.splitlines()
    assert not [line for line in lines if SCRAPY_FORMAT.match(line)], "a second (Scrapy) handler printed"
    records = [m.groups() for line in lines if (m := RECORD.match(line))]
    messages = [message for _, _, message in records]
    # one site, one spider: its life-cycle records once each (twice with two root handlers)
    assert messages.count("Spider opened") == 1 and messages.count("Spider closed (finished)") == 1
    assert all(a != b for a, b in zip(records, records[1:], strict=False)), "a record printed twice in a row"
    assert {level for level, _, _ in records} <= {"INFO", "WARNING"}
    assert "Scraped from" not in log and "scraped http" not in log and not dumped(listings, log)
    # Scrapy's start-up banners (versions, middlewares, settings, stats dump) only when debugging
    assert "Enabled downloader middlewares" not in log and "Dumping Scrapy stats" not in log
    progress = [line for line in lines if PROGRESS.match(line)]
    assert progress and "\r" not in log  # not a terminal: plain lines, never redrawn in place


def test_quiet_prints_no_info_and_no_progress(world: Any, tmp_path: Path) -> None:
    log, _ = dragnet_crawl(world, tmp_path, "--quiet")
    assert not [line for line in log.splitlines() if PROGRESS.match(line)]
    assert not [line for line in log.splitlines() if (m := RECORD.match(line)) and m.group(1) in ("DEBUG", "INFO")]


def test_debug_names_each_listing_in_one_line_without_its_contents(world: Any, tmp_path: Path) -> None:
    log, listings = dragnet_crawl(world, tmp_path, level="DEBUG")
    scraped = [line for line in log.splitlines() if (m := RECORD.match(line)) and m.group(3).startswith("scraped ")]
    assert len(scraped) == len(listings)
    assert {line.split("scraped ", 1)[1].split(" from ", 1)[0] for line in scraped} == {i.url for i in listings}
    assert not dumped(listings, log)
