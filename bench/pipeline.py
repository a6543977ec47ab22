"""``dragnet bench pipeline``: end-to-end throughput and crawl-to-searchable latency of the
distributed pipeline (real Redis, real OpenSearch node, real Celery workers, real classifier)
with 1 and then 2 worker processes; the 1-process run is the baseline of the scaling ratio.

Per configuration:
- throughput: a burst of listings is submitted at once; items/s = burst / (time until the last
  one is searchable in OpenSearch);
- latency: listings arrive at a steady rate (half the 1-process throughput, so neither
  configuration is saturated) and each one's crawl-to-searchable time is taken from its
  ``crawled_at`` (set when it is handed over) to the first search that returns it.

Each worker process is given one engine thread (``workers.threads_per_process=1``), so the ratio
measures scaling by processes on this machine's cores rather than intra-op threading.  End to end,
the OpenSearch node, Redis and the searchability poller share the same cores, so the classify
stage is also measured alone (classify workers only; done when every classified batch waits in
the index queue): that is the CPU-bound ratio.
"""

from __future__ import annotations

import csv
import itertools
import json
import os
import statistics
import tempfile
import threading
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import redis

from dragnet.documents import Listing
from dragnet.services.opensearch_node import OpenSearchNode
from dragnet.services.process import ManagedProcess, wait_until
from dragnet.services.redis_server import RedisServer
from dragnet.settings import get_settings, load_settings, use_settings
from index.factory import open_store
from index.store import SearchQuery
from workers.app import configure
from workers.launch import worker_argv
from workers.submit import flush, submit_batch

BURST = 400
CLASSIFY_ITEMS = 640  # a multiple of the batch size (32)
LATENCY_SECONDS = 12.0
REPO_ROOT = Path(__file__).resolve().parent.parent


def _listings(count: int, tag: str) -> list[Any]:
    rows = []
    with (get_settings().training_data_dir / "darknet_listings.csv").open(encoding="utf-8", newline="") as handle:
        for row in itertools.islice(csv.DictReader(handle), 0, count * 5, 5):
            rows.append(row)
    return [
        Listing.new(
            f"http://bench{n % 4}.onion/{tag}/{n}",
            source_kind="market",
            title=row["title"],
            text=f"{row['title']} - {row['category']} by {row['vendor']}",
            market=f"bench{n % 4}",
        )
        for n, row in enumerate(rows[:count])
    ]


class Watcher:
    """Polls the store for listing ids and records when each first became searchable."""

    def __init__(self, store: Any) -> None:
        self.store = store
        self.pending: dict[str, float] = {}  # id -> crawled_at (epoch seconds)
        self.seen: dict[str, float] = {}  # id -> latency in seconds
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def expect(self, listings: list[Any]) -> None:
        with self.lock:
            for item in listings:
                self.pending[item.id] = item.crawled_at.timestamp()

    def _run(self) -> None:
        while not self.stop.is_set():
            with self.lock:
                ids = list(self.pending)[:1000]
            if ids:
                try:
                    found = self.store.search(SearchQuery(ids=ids, size=len(ids), facets=False, highlight=False))
                    now = time.time()
                    with self.lock:
                        for hit in found.hits:
                            crawled = self.pending.pop(hit.listing.id, None)
                            if crawled is not None:
                                self.seen[hit.listing.id] = now - crawled
                except Exception:  # noqa: BLE001 - a slow engine answer is retried next round
                    pass
            time.sleep(0.1)

    def wait_all(self, timeout_s: float) -> bool:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            with self.lock:
                if not self.pending:
                    return True
            time.sleep(0.05)
        return False

    def close(self) -> None:
        self.stop.set()
        self.thread.join(5)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    index = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[index]


def _run_config(processes: int, redis_url: str, search_url: str, workdir: Path, rate: float | None) -> dict[str, Any]:
    redis.Redis.from_url(redis_url).flushdb()
    env_vars = {
        "DRAGNET_REDIS__URL": redis_url,
        "DRAGNET_SEARCH__BACKEND": "opensearch",
        "DRAGNET_SEARCH__URL": search_url,
        "DRAGNET_SEARCH__INDEX_PREFIX": f"bench{uuid.uuid4().hex[:8]}",
        "DRAGNET_PATHS__DATA_DIR": str(workdir / "data"),
        "DRAGNET_WORKERS__THREADS_PER_PROCESS": "1",
        "DRAGNET_WORKERS__CLASSIFY_BATCH_SIZE": "32",
        "DRAGNET_WORKERS__CLASSIFY_MAX_WAIT_S": "0.2",
    }
    settings = load_settings()
    settings = settings.model_copy(
        update={
            "redis": settings.redis.model_copy(update={"url": redis_url}),
            "search": settings.search.model_copy(
                update={
                    "backend": "opensearch",
                    "url": search_url,
                    "index_prefix": env_vars["DRAGNET_SEARCH__INDEX_PREFIX"],
                }
            ),
            "workers": settings.workers.model_copy(update={"classify_batch_size": 32, "classify_max_wait_s": 0.2}),
        }
    )
    use_settings(settings)
    configure(settings)
    env = {k: v for k, v in os.environ.items() if not k.startswith("DRAGNET_")}
    env.update(env_vars)
    env["PYTHONPATH"] = str(REPO_ROOT)

    def start_worker(queues: str, tag: str) -> ManagedProcess:
        argv = worker_argv(queues, processes, f"bench{processes}{tag}-{uuid.uuid4().hex[:6]}@%h")
        proc = ManagedProcess(
            f"bench-worker-{processes}{tag}", argv, workdir / f"worker-{processes}{tag}.log", env=env, cwd=REPO_ROOT
        )
        proc.start()
        wait_until(
            lambda: (
                proc.log_path.read_text(errors="replace").count("classifier loaded") >= processes
                and " ready." in proc.log_path.read_text(errors="replace")
            ),
            300,
            "bench worker ready",
            0.5,
        )
        return proc

    # CPU-bound stage alone: classify workers only, nothing consumes the index queue; the stage is
    # done when every classified batch is waiting there.
    client = redis.Redis.from_url(redis_url)
    classifier_only = start_worker("classify", "c")
    try:
        warm = _listings(64, f"cwarm{processes}")
        submit_batch(warm)
        flush()
        wait_until(lambda: client.llen("index") >= 2, 120, "classify warm-up", 0.05)
        client.delete("index")
        stage = _listings(CLASSIFY_ITEMS, f"cls{processes}")
        started = time.monotonic()
        submit_batch(stage)
        flush()
        wait_until(lambda: client.llen("index") >= CLASSIFY_ITEMS // 32, 600, "classify stage", 0.02)
        classify_items_per_s = CLASSIFY_ITEMS / (time.monotonic() - started)
    finally:
        classifier_only.stop()
    client.flushdb()

    worker = start_worker("classify,index", "")
    store = open_store(settings)
    watcher = Watcher(store)
    try:
        warm = _listings(64, f"warm{processes}")
        watcher.expect(warm)
        submit_batch(warm)
        flush()
        if not watcher.wait_all(120):
            raise RuntimeError(f"warm-up did not finish:\n{worker.tail()}")

        now = datetime.now(UTC)
        burst = [item.model_copy(update={"crawled_at": now}) for item in _listings(BURST, f"burst{processes}")]
        started = time.monotonic()
        watcher.expect(burst)
        submit_batch(burst)
        flush()
        if not watcher.wait_all(600):
            raise RuntimeError(f"burst did not finish:\n{worker.tail()}")
        burst_s = time.monotonic() - started
        items_per_s = BURST / burst_s

        steady_rate = rate or max(1.0, items_per_s / 2)
        steady = _listings(int(steady_rate * LATENCY_SECONDS), f"steady{processes}")
        watcher.seen.clear()
        interval = 0.25
        per_tick = max(1, round(steady_rate * interval))
        next_tick = time.monotonic()
        for start in range(0, len(steady), per_tick):
            chunk = steady[start : start + per_tick]
            now = datetime.now(UTC)
            chunk = [item.model_copy(update={"crawled_at": now}) for item in chunk]
            watcher.expect(chunk)
            submit_batch(chunk)
            next_tick += interval
            time.sleep(max(0.0, next_tick - time.monotonic()))
        flush()
        if not watcher.wait_all(300):
            raise RuntimeError(f"steady phase did not finish:\n{worker.tail()}")
        latencies = list(watcher.seen.values())
        return {
            "processes": processes,
            "classify_stage_items_per_s": round(classify_items_per_s, 1),
            "burst_items": BURST,
            "burst_seconds": round(burst_s, 2),
            "items_per_s": round(items_per_s, 1),
            "steady_rate_items_per_s": round(steady_rate, 1),
            "steady_items": len(latencies),
            "latency_p50_s": round(statistics.median(latencies), 3) if latencies else None,
            "latency_p95_s": round(percentile(latencies, 0.95), 3) if latencies else None,
        }
    finally:
        watcher.close()
        worker.stop()
        store.close()


def run(burst: int = BURST) -> dict[str, Any]:
    """Start Redis and OpenSearch, measure 1 then 2 worker processes, return the figures."""

    global BURST
    BURST = burst
    previous = get_settings()
    with (
        tempfile.TemporaryDirectory(prefix="dragnet-bench-pipeline-") as tmp,
        RedisServer() as redis_srv,
        OpenSearchNode() as node,
    ):
        workdir = Path(tmp)
        try:
            one = _run_config(1, f"redis://127.0.0.1:{redis_srv.port}/1", node.url, workdir, None)
            rate = max(1.0, one["items_per_s"] / 2)  # same offered load for both, half the baseline capacity
            one_latency = one
            two = _run_config(2, f"redis://127.0.0.1:{redis_srv.port}/2", node.url, workdir, rate)
        finally:
            use_settings(previous)
    return {
        "benchmark": "pipeline",
        "baseline": "1 worker process (1 torch thread), same machine, same run",
        "cpu_count": os.cpu_count(),
        "load_avg_1m_at_end": round(os.getloadavg()[0], 2),  # other work on the machine skews the ratio
        "one_process": one_latency,
        "two_processes": two,
        "scaling_ratio": round(two["items_per_s"] / one["items_per_s"], 2) if one["items_per_s"] else None,
        "classify_stage_scaling_ratio": round(two["classify_stage_items_per_s"] / one["classify_stage_items_per_s"], 2),
        "targets": {"latency_p50_s": "< 5", "scaling_ratio": ">= 1.8 when CPU-bound on 2 cores"},
    }


def main(json_output: bool = False) -> None:
    result = run()
    if json_output:
        print(json.dumps(result))
        return
    one, two = result["one_process"], result["two_processes"]
    print("pipeline benchmark: crawl handoff -> Redis -> classify -> index -> searchable in OpenSearch")
    print(f"{'processes':>10} {'items/s':>9} {'p50 s':>7} {'p95 s':>7} {'steady rate':>12}")
    for row in (one, two):
        print(
            f"{row['processes']:>10} {row['items_per_s']:>9} {row['latency_p50_s']:>7} {row['latency_p95_s']:>7} "
            f"{row['steady_rate_items_per_s']:>12}"
        )
    print(
        f"scaling ratio end to end (2 vs 1 process, baseline = 1 process): {result['scaling_ratio']}x "
        f"on {result['cpu_count']} CPUs (OpenSearch and the poller share those CPUs)"
    )
    print(
        f"classify stage alone (CPU-bound): {one['classify_stage_items_per_s']} -> "
        f"{two['classify_stage_items_per_s']} items/s, {result['classify_stage_scaling_ratio']}x "
        f"(1-min load average at the end: {result['load_avg_1m_at_end']})"
    )
