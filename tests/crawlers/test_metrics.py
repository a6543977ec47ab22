"""A crawl's Prometheus metrics: scraped over HTTP from the crawl process while it runs (loopback
port from the settings), and written to the text file when it ends; both pass promtool, and the
final figures agree with the crawl's own stats (pages, items, the gate that paused velvet), as do the
per-site lines of the crawl-runs file."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from crawlers.runlog import read_runs
from crawlers.simsites import SimulatedWorld
from dragnet.services.process import free_port, wait_until
from dragnet.services.promtool import check_metrics
from tests.crawlers.conftest import REPO

pytestmark = pytest.mark.integration


def _values(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def _sum(values: dict, name: str, **labels: str) -> float:
    return sum(v for (n, lab), v in values.items() if n == name and set(labels.items()) <= set(lab))


def test_crawl_metrics_served_while_running_and_written_at_the_end(settings, tmp_path: Path, promtool: str) -> None:
    port = free_port()
    textfile = tmp_path / "crawl.prom"
    env = {k: v for k, v in os.environ.items() if not k.startswith("DRAGNET_")}
    env |= {
        "DRAGNET_ENV": "test",
        "DRAGNET_PATHS__DATA_DIR": str(settings.paths.data_dir),
        "DRAGNET_CRAWL__RETRY_BACKOFF_S": "0.2",
        "DRAGNET_CRAWL__DOWNLOAD_DELAY_S": "0.3",  # a crawl long enough to be scraped while it runs
        "DRAGNET_CRAWL__METRICS_PORT": str(port),
        "DRAGNET_CRAWL__METRICS_TEXTFILE": str(textfile),
    }
    with SimulatedWorld(15) as world:
        argv = [sys.executable, "-m", "crawlers.runner", "nightshade", "velvet"]
        argv += ["--out", str(tmp_path / "items.jsonl"), "--proxy", world.proxy_url]
        proc = subprocess.Popen(argv, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            live: list[str] = []

            def scraped() -> bool:
                body = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=2).text
                if 'dragnet_crawl_running{site="nightshade"} 1.0' in body:
                    live.append(body)
                    return True
                return False

            wait_until(scraped, 120, "the crawl's metrics endpoint")
            out, err = proc.communicate(timeout=300)
        finally:
            if proc.poll() is None:
                proc.kill()
    assert proc.returncode == 0, err[-3000:]
    stats = json.loads(next(line for line in out.splitlines() if line.startswith("CRAWLSTATS "))[11:])

    checked = check_metrics(live[0])
    assert checked.returncode == 0, checked.stdout + checked.stderr
    running = _values(live[0])
    # Every series of an open site exists from the start, at zero where nothing happened yet.
    assert ("dragnet_crawl_errors_total", (("kind", "item"), ("site", "nightshade"))) in running

    final = textfile.read_text()
    checked = check_metrics(final)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    values = _values(final)
    assert _sum(values, "dragnet_crawl_pages_total") == stats["pages"]
    assert _sum(values, "dragnet_crawl_items_total") == stats["items"] > 0
    assert (
        _sum(values, "dragnet_crawl_items_total", site="nightshade")
        == stats["sites"]["nightshade"]["item_scraped_count"]
    )
    assert _sum(values, "dragnet_crawl_pages_total", site="nightshade", status="2xx") > 0
    assert _sum(values, "dragnet_crawl_bytes_total", site="nightshade") > 0
    assert _sum(values, "dragnet_crawl_gates_total", site="velvet", outcome="paused") == 1
    assert _sum(values, "dragnet_crawl_gates_total", site="nightshade", outcome="solved") >= 1
    assert _sum(values, "dragnet_crawl_running") == 0
    assert stats["gated"] == ["velvet"]

    # the same run, per site, in the crawl-runs file the operator's crawl page reads
    runs = {run.site: run for run in read_runs(settings.paths.crawl_runs_file)}
    assert set(runs) == {"nightshade", "velvet"}
    assert sum(run.pages for run in runs.values()) == stats["pages"]
    assert runs["nightshade"].listings == stats["sites"]["nightshade"]["item_scraped_count"] > 0
    assert runs["velvet"].gate_pauses == 1 and runs["nightshade"].gate_pauses == 0
    assert all(run.started_at <= run.ended_at and run.finish_reason == "finished" for run in runs.values())
