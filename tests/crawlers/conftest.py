"""Fixtures for the crawler tests: one simulated world per session (behind the shared SOCKS5
proxy), and a helper that runs a crawl in a fresh process (Twisted's reactor runs once per
process) and returns its stats and listings."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from crawlers.simsites import SimulatedWorld
from dragnet.documents import Listing

REPO = Path(__file__).resolve().parents[2]


@dataclass
class CrawlRun:
    stats: dict[str, Any]
    listings: list[Listing]
    log: str
    returncode: int

    def site(self, name: str) -> dict[str, Any]:
        return self.stats["sites"].get(name, {})


def run_crawl_subprocess(
    targets: list[str],
    *,
    data_dir: Path,
    proxy_url: str | None,
    out: Path,
    env: dict[str, str] | None = None,
    shared_frontier: bool = False,
    timeout: float = 300,
    argv0: list[str] | None = None,
) -> CrawlRun:
    child_env = {k: v for k, v in os.environ.items() if not k.startswith("DRAGNET_")}
    child_env.update(
        {"DRAGNET_ENV": "test", "DRAGNET_PATHS__DATA_DIR": str(data_dir), "DRAGNET_CRAWL__RETRY_BACKOFF_S": "0.2"}
    )
    child_env.update(env or {})
    argv = [
        *(argv0 or [sys.executable, "-m", "crawlers.runner"]),
        *targets,
        "--out",
        str(out),
        "--proxy",
        proxy_url or "",
    ]
    if shared_frontier:
        argv.append("--shared-frontier")
    proc = subprocess.run(argv, cwd=REPO, env=child_env, capture_output=True, text=True, timeout=timeout)
    stats_line = next((line for line in reversed(proc.stdout.splitlines()) if line.startswith("CRAWLSTATS ")), None)
    if stats_line is None:
        raise AssertionError(f"crawl failed (rc={proc.returncode}):\n{proc.stderr[-5000:]}")
    listings = []
    if out.is_file():
        listings = [Listing.model_validate_json(line) for line in out.read_text().splitlines() if line.strip()]
    return CrawlRun(json.loads(stats_line[len("CRAWLSTATS ") :]), listings, proc.stderr, proc.returncode)


@pytest.fixture(scope="module")
def world(socks_proxy: Any) -> Iterator[Any]:
    """Per module, so that other areas' worlds on the shared proxy never overlap with ours."""

    with SimulatedWorld(60, proxy=socks_proxy, forum_posts=60, social_posts=40, hostile=True) as sim:
        yield sim
