"""``dragnet bench pipeline``: how the distributed pipeline scales with worker and crawler
processes on this machine, measured on a simulated fleet of markets (real Scrapy crawlers, real
Redis, real Celery workers with the real classifier, a real store), 1 worker process being the
same-run baseline of every ratio.

Phases, all in one run against one fleet (``--markets`` markets, ``--listings`` listings):

1. crawl alone, for each crawler count C: the fleet's markets split among C crawler processes,
   listings written to files only (no hand-off): crawler items/s.  The first crawl is kept as
   the backlog of phase 3.
2. classify stage alone, for each worker count W: W classify processes (one engine thread
   each), nothing indexing; done when every classified batch waits in the index queue.  The
   CPU-bound stage with nothing else running: the cleanest ratio.
3. worker stage on a backlog: the pre-crawled listings submitted at once to W worker processes
   (classify + index); items/s until the last one is searchable.
4. full pipeline, for each C: C crawlers handing off live to the W workers; items/s from the
   first listing crawled to the last one searchable, and each listing's crawl-to-searchable
   latency (``crawled_at``, set when the crawler emitted it, to the first search that returns
   it).  When the crawlers outrun the workers this latency is queueing time.
5. paced latency: one crawler, paced (profile ``delay``) to half the baseline's backlog
   throughput, the same offered load for every W: the crawl-to-searchable latency of a pipeline
   that keeps up.

Every worker process has one engine thread (``workers.threads_per_process=1``: ONNX
intra-op and torch threads), so the ratio measures processes on cores rather than intra-op
threading.  The crawlers, the store (an OpenSearch node by default), Redis, the simulated
fleet and the searchability poller share the same cores, so the curve bends at the core count:
past it, one more worker process only takes CPU from another.
"""

from __future__ import annotations

import itertools
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import redis

from crawlers.simsites.fleet import MarketFleet
from dragnet.documents import Listing, canonicalize_url, listing_id
from dragnet.services.opensearch_node import OpenSearchNode
from dragnet.services.process import ManagedProcess, wait_until
from dragnet.services.redis_server import RedisServer
from dragnet.settings import DragnetSettings, get_settings, load_settings, use_settings
from index.factory import open_store
from index.store import SearchQuery
from workers.app import configure
from workers.launch import worker_argv
from workers.submit import flush, submit_batch

REPO_ROOT = Path(__file__).resolve().parent.parent
CLASSIFY_BATCH = 32
CLASSIFY_STAGE_MAX = 2048  # items of the classify-alone phase (a multiple of CLASSIFY_BATCH)
HANDOFF_BATCH = 16  # crawler -> broker hand-off batch (the production default, 64, waits for 64 items)
PACED_SECONDS = 60.0  # how long the paced crawl should last
POLL_CHUNK = 1000  # ids per searchability query
STALL_SECONDS = 300.0  # give up on listings that never turn up after this long without progress
STORES = ("opensearch", "embedded")
CARRIED_ENV = ("DRAGNET_ENV", "DRAGNET_CLASSIFIER__", "DRAGNET_PATHS__CACHE_DIR")


def cpu_facts() -> dict[str, Any]:
    """The machine's cores as the OS reports them and the ones this process may run on."""
    try:
        affinity = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        affinity = os.cpu_count() or 1
    return {"cpu_count": os.cpu_count(), "affinity_cpus": affinity, "load_avg_1m_start": round(os.getloadavg()[0], 2)}


def percentile(values: list[float], q: float) -> float | None:
    """Nearest-rank percentile; ``None`` without values."""
    ordered = sorted(values)
    if not ordered:
        return None
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))]


class Watcher:
    """Polls the store for expected listing ids and records, for each, when a search first
    returned it and the ``crawled_at`` it carries."""

    def __init__(self, store: Any) -> None:
        self.store = store
        self.pending: set[str] = set()
        self.found: dict[str, tuple[float, float]] = {}  # id -> (crawled_at, searchable at), epoch s
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.errors = 0
        self.thread = threading.Thread(target=self._run, name="bench-watcher", daemon=True)
        self.thread.start()

    def expect(self, ids: list[str]) -> None:
        with self.lock:
            self.pending.update(i for i in ids if i not in self.found)

    def _run(self) -> None:
        while not self.stop.is_set():
            with self.lock:
                ids = list(self.pending)
            for start in range(0, len(ids), POLL_CHUNK):
                chunk = ids[start : start + POLL_CHUNK]
                try:
                    result = self.store.search(SearchQuery(ids=chunk, size=len(chunk), facets=False, highlight=False))
                except Exception:  # noqa: BLE001 - a slow or busy store is asked again next round
                    self.errors += 1
                    continue
                now = time.time()
                with self.lock:
                    for hit in result.hits:
                        if hit.listing.id in self.pending:
                            self.pending.discard(hit.listing.id)
                            self.found[hit.listing.id] = (hit.listing.crawled_at.timestamp(), now)
            self.stop.wait(0.1)

    def wait_all(self, timeout_s: float, alive: Any = None, stall_s: float = STALL_SECONDS) -> bool:
        """Until nothing is pending (True), or the time is up, nothing new turned up for
        ``stall_s`` seconds, or ``alive()`` says the workers died (False)."""
        deadline = time.monotonic() + timeout_s
        last_count, last_change = -1, time.monotonic()
        while time.monotonic() < deadline:
            with self.lock:
                if not self.pending:
                    return True
                count = len(self.found)
            now = time.monotonic()
            if count != last_count:
                last_count, last_change = count, now
            elif now - last_change > stall_s:
                return False
            if alive is not None and not alive():
                return False
            time.sleep(0.05)
        return False

    def figures(self, ids: list[str], started: float | None = None) -> dict[str, Any]:
        """items/s and latency over ``ids``: from ``started`` (default: the first ``crawled_at``)
        to the last one searchable."""
        with self.lock:
            rows = [self.found[i] for i in ids if i in self.found]
        if not rows:
            return {"items": len(ids), "searchable": 0, "seconds": None, "items_per_s": None}
        first = started if started is not None else min(crawled for crawled, _ in rows)
        last = max(seen for _, seen in rows)
        latencies = [max(0.0, seen - crawled) for crawled, seen in rows]
        seconds = max(1e-6, last - first)
        return {
            "items": len(ids),
            "searchable": len(rows),
            "seconds": round(seconds, 2),
            "items_per_s": round(len(rows) / seconds, 1),
            "latency_p50_s": round(statistics.median(latencies), 3),
            "latency_p95_s": round(percentile(latencies, 0.95) or 0.0, 3),
        }

    def close(self) -> None:
        self.stop.set()
        self.thread.join(10)


@dataclass
class Bench:
    """One run's shared parts: the fleet, Redis, the store and where files go."""

    fleet: MarketFleet
    redis_port: int
    store_kind: str
    search_url: str
    workdir: Path
    base_env: dict[str, str]
    runs: itertools.count[int] = field(default_factory=itertools.count)
    sample: list[Listing] = field(default_factory=list)  # texts for warm-up batches

    def config_env(self, tag: str) -> tuple[dict[str, str], DragnetSettings]:
        """Environment and settings of one configuration: its own Redis database, store (index
        prefix or SQLite file) and data directory, so nothing carries over between runs."""
        db = 1 + next(self.runs) % 15
        redis_url = f"redis://127.0.0.1:{self.redis_port}/{db}"
        redis.Redis.from_url(redis_url).flushdb()
        data_dir = self.workdir / f"data-{tag}"
        env = dict(self.base_env)
        env.update(
            {
                "DRAGNET_REDIS__URL": redis_url,
                "DRAGNET_PATHS__DATA_DIR": str(data_dir),
                "DRAGNET_SEARCH__BACKEND": self.store_kind,
                "DRAGNET_SEARCH__INDEX_PREFIX": f"bench{uuid.uuid4().hex[:8]}",
            }
        )
        if self.search_url:
            env["DRAGNET_SEARCH__URL"] = self.search_url
        previous = {k: os.environ.get(k) for k in env if k.startswith("DRAGNET_")}
        os.environ.update({k: v for k, v in env.items() if k.startswith("DRAGNET_")})
        try:
            settings = load_settings()
        finally:
            for key, value in previous.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value
        use_settings(settings)
        configure(settings)
        return env, settings

    def start_workers(self, env: dict[str, str], queues: str, processes: int, tag: str) -> ManagedProcess:
        argv = worker_argv(queues, processes, f"bench-{tag}-{uuid.uuid4().hex[:6]}@%h")
        proc = ManagedProcess(f"bench-worker-{tag}", argv, self.workdir / f"worker-{tag}.log", env=env, cwd=REPO_ROOT)
        proc.start()

        def ready_or_dead() -> bool:
            if not proc.running:
                return True
            text = proc.log_path.read_text(errors="replace")
            return " ready." in text and text.count("classifier loaded") >= processes

        wait_until(ready_or_dead, 1800, "bench worker ready (the first run waits for the default model)", 0.5)
        if not proc.running:
            raise RuntimeError(f"bench worker exited:\n{proc.tail(40)}")
        return proc

    def crawl(
        self, env: dict[str, str], groups: list[list[Path]], tag: str, *, handoff: bool
    ) -> tuple[list[dict[str, Any]], list[Path], float]:
        """Run one crawler process per group of profiles, all at once; their stats, output files
        and the wall time until the last one exited."""
        procs = []
        outs = []
        started = time.monotonic()
        for index, group in enumerate(groups):
            out = self.workdir / f"crawl-{tag}-{index}.jsonl"
            out.unlink(missing_ok=True)
            outs.append(out)
            penv = dict(
                env, DRAGNET_PATHS__DATA_DIR=str(self.workdir / f"crawler-{tag}-{index}"), DRAGNET_LOG_LEVEL="WARNING"
            )
            argv = [
                str(Path(sys.executable).with_name("dragnet")),
                "crawl",
                *map(str, group),
                "--proxy",
                "",
                "--out",
                str(out),
                "--json",
                "--handoff" if handoff else "--no-handoff",
            ]
            log = (self.workdir / f"crawl-{tag}-{index}.log").open("w")
            procs.append(
                (subprocess.Popen(argv, env=penv, cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=log, text=True), log)
            )
        stats = []
        for index, (proc, log) in enumerate(procs):
            stdout, _ = proc.communicate(timeout=6 * 3600)
            log.close()
            lines = [line for line in stdout.splitlines() if line.startswith("{")]
            if proc.returncode != 0 or not lines:
                tail = (self.workdir / f"crawl-{tag}-{index}.log").read_text(errors="replace")[-3000:]
                raise RuntimeError(f"crawler {tag}-{index} failed (rc={proc.returncode}):\n{tail}")
            stats.append(json.loads(lines[-1]))
        return stats, outs, time.monotonic() - started


def split(paths: list[Path], parts: int) -> list[list[Path]]:
    """Profiles dealt round-robin to ``parts`` crawler processes (markets never shared)."""
    return [group for group in (paths[n::parts] for n in range(parts)) if group]


def _expected_ids(fleet: MarketFleet, names: list[str] | None = None) -> list[str]:
    return [listing_id(canonicalize_url(url)) for url in fleet.listing_urls(names)]


def _read_listings(paths: list[Path]) -> list[Listing]:
    out = []
    for path in paths:
        with path.open(encoding="utf-8") as handle:
            out += [Listing.model_validate_json(line) for line in handle if line.strip()]
    return out


def _ratio(value: float | None, base: float | None) -> float | None:
    return round(value / base, 2) if value and base else None


def crawl_alone(bench: Bench, crawlers: list[int]) -> tuple[list[dict[str, Any]], list[Listing]]:
    """Phase 1: crawler items/s for each crawler count; the first crawl's listings are returned."""
    rows: list[dict[str, Any]] = []
    backlog: list[Listing] = []
    paths = bench.fleet.profile_paths
    for count in crawlers:
        env, _ = bench.config_env(f"crawl{count}")
        stats, outs, wall = bench.crawl(env, split(paths, count), f"alone{count}", handoff=False)
        items = sum(int(s["items"]) for s in stats)
        pages = sum(int(s["pages"]) for s in stats)
        # the crawlers' own crawl time (start-up and imports excluded), the slowest process's
        crawling = max(float(s.get("elapsed_s") or 0.0) for s in stats) or wall
        rows.append(
            {
                "crawlers": count,
                "items": items,
                "pages": pages,
                "seconds": round(crawling, 2),
                "wall_seconds": round(wall, 2),
                "items_per_s": round(items / crawling, 1),
                "pages_per_s": round(pages / crawling, 1),
            }
        )
        if not backlog:
            backlog = _read_listings(outs)
    base = rows[0]["items_per_s"] if rows else None
    for row in rows:
        row["ratio_vs_first"] = _ratio(row["items_per_s"], base)
    return rows, backlog


def classify_alone(bench: Bench, workers: int, backlog: list[Listing]) -> dict[str, Any]:
    """Phase 2: the classify stage with nothing else running (no index consumer)."""
    env, _ = bench.config_env(f"cls{workers}")
    client = redis.Redis.from_url(env["DRAGNET_REDIS__URL"])
    count = max(CLASSIFY_BATCH, min(CLASSIFY_STAGE_MAX, len(backlog)) // CLASSIFY_BATCH * CLASSIFY_BATCH)
    items = list(itertools.islice(itertools.cycle(backlog), count))
    proc = bench.start_workers(env, "classify", workers, f"cls{workers}")
    try:
        warm = items[: 2 * CLASSIFY_BATCH]  # warm-up: the first batches pay for lazy imports
        submit_batch(warm)
        flush()
        warm_batches = math.ceil(len(warm) / CLASSIFY_BATCH)
        wait_until(lambda: client.llen("index") >= warm_batches, 300, "classify warm-up", 0.05)
        client.delete("index")
        started = time.monotonic()
        submit_batch(items)
        flush()
        wait_until(lambda: client.llen("index") >= count // CLASSIFY_BATCH, 3600, "classify stage", 0.02)
        seconds = time.monotonic() - started
    finally:
        proc.stop()
    threads = proc.log_path.read_text(errors="replace").count("1 thread(s)")
    return {
        "items": count,
        "seconds": round(seconds, 2),
        "items_per_s": round(count / seconds, 1),
        "processes_with_one_engine_thread": threads,
    }


@contextmanager
def workers_session(bench: Bench, workers: int, tag: str) -> Iterator[tuple[dict[str, str], ManagedProcess, Watcher]]:
    """``workers`` processes (classify + index) on a fresh broker database and a fresh store,
    warmed up (the first batches pay for lazy imports), with a watcher on the store."""
    env, settings = bench.config_env(tag)
    proc = bench.start_workers(env, "classify,index", workers, tag)
    store = open_store(settings)
    watcher = Watcher(store)
    try:
        warm = [
            Listing.new(
                f"http://bench-warm.onion/{tag}/{n}",
                source_kind="market",
                title=item.title,
                text=item.text,
                market="bench-warm",
            )
            for n, item in enumerate(bench.sample[:64])
        ]
        watcher.expect([item.id for item in warm])
        submit_batch(warm)
        flush()
        if not watcher.wait_all(300, lambda: proc.running):
            raise RuntimeError(f"warm-up did not finish:\n{proc.tail(40)}")
        yield env, proc, watcher
    finally:
        watcher.close()
        proc.stop()
        store.close()


def backlog_stage(bench: Bench, workers: int, backlog: list[Listing]) -> dict[str, Any]:
    """Phase 3: every pre-crawled listing submitted at once; items/s until the last is searchable."""
    with workers_session(bench, workers, f"bl{workers}") as (_, proc, watcher):
        stamp = datetime.now(UTC)
        items = [item.model_copy(update={"crawled_at": stamp}) for item in backlog]
        ids = [item.id for item in items]
        watcher.expect(ids)
        started = time.time()
        for start in range(0, len(items), 1000):
            submit_batch(items[start : start + 1000])
        flush()
        watcher.wait_all(6 * 3600, lambda: proc.running)
        fig = watcher.figures(ids, started)
    return {k: fig[k] for k in ("items", "searchable", "seconds", "items_per_s")}


def pipeline_stage(bench: Bench, workers: int, crawlers: int) -> dict[str, Any]:
    """Phase 4: ``crawlers`` crawler processes handing off live to ``workers`` processes."""
    with workers_session(bench, workers, f"w{workers}c{crawlers}") as (env, proc, watcher):
        expected = _expected_ids(bench.fleet)
        watcher.expect(expected)
        stats, _, wall = bench.crawl(
            env, split(bench.fleet.profile_paths, crawlers), f"w{workers}c{crawlers}", handoff=True
        )
        complete = watcher.wait_all(6 * 3600, lambda: proc.running)
        fig = watcher.figures(expected)
    fig.update(
        crawlers=crawlers, crawled=sum(int(s["items"]) for s in stats), crawl_seconds=round(wall, 2), complete=complete
    )
    return fig


def paced_stage(bench: Bench, workers: int, rate: float) -> dict[str, Any]:
    """Phase 5: one crawler on the first markets, each paced so that together they offer
    ``rate`` listings/s; the latency of a pipeline that keeps up."""
    fleet = bench.fleet
    names = list(fleet.sites)
    per_market = max(1, len(fleet.listing_urls(names[:1])))
    chosen = names[: max(1, min(len(names), math.ceil(rate * PACED_SECONDS / per_market)))]
    items = sum(len(fleet.listing_urls([n])) for n in chosen)
    pages = sum(fleet.pages(n) for n in chosen)
    # each market at rate/len(chosen) listings/s, i.e. one request every `delay` seconds
    delay = len(chosen) * (items / pages) / rate
    paths = fleet.write_profiles(bench.workdir / f"paced-w{workers}", chosen, delay_s=round(delay, 4))
    with workers_session(bench, workers, f"p{workers}") as (env, proc, watcher):
        expected = _expected_ids(fleet, chosen)
        watcher.expect(expected)
        stats, _, wall = bench.crawl(env, [paths], f"paced{workers}", handoff=True)
        complete = watcher.wait_all(3600, lambda: proc.running)
        fig = watcher.figures(expected)
        with watcher.lock:
            crawled = sorted(watcher.found[i][0] for i in expected if i in watcher.found)
    span = crawled[-1] - crawled[0] if len(crawled) > 1 else 0.0
    return {
        "markets": len(chosen),
        "target_items_per_s": round(rate, 1),
        "offered_items_per_s": round(len(crawled) / span, 1) if span > 0 else None,
        "items": fig["items"],
        "searchable": fig["searchable"],
        "crawled": sum(int(s["items"]) for s in stats),
        "crawl_seconds": round(wall, 2),
        "latency_p50_s": fig.get("latency_p50_s"),
        "latency_p95_s": fig.get("latency_p95_s"),
        "complete": complete,
    }


def _scaling(configs: list[dict[str, Any]]) -> dict[str, Any]:
    """Each configuration's figures over the first (the 1-worker baseline of the same run)."""
    base = configs[0]
    out: dict[str, Any] = {}
    for row in configs:
        entry = {
            "classify_stage": _ratio(row["classify_stage"]["items_per_s"], base["classify_stage"]["items_per_s"]),
            "backlog": _ratio(row["backlog"]["items_per_s"], base["backlog"]["items_per_s"]),
        }
        for pipe, base_pipe in zip(row["pipeline"], base["pipeline"], strict=True):
            entry[f"pipeline_{pipe['crawlers']}_crawlers"] = _ratio(pipe["items_per_s"], base_pipe["items_per_s"])
        out[str(row["workers"])] = entry
    return out


def _bend(configs: list[dict[str, Any]], cores: int) -> str:
    """Where adding worker processes stopped paying, in words, from the backlog figures."""
    previous = None
    for row in configs:
        rate = row["backlog"]["items_per_s"] or 0.0
        if previous is not None:
            gain = rate / previous[1] if previous[1] else 0.0
            per_added = gain / (row["workers"] / previous[0])
            if per_added < 0.75:
                return (
                    f"bends between {previous[0]} and {row['workers']} worker processes "
                    f"({gain:.2f}x for {row['workers'] / previous[0]:.1f}x the processes) on {cores} usable cores"
                )
        previous = (row["workers"], rate)
    return f"no bend up to {configs[-1]['workers']} worker processes on {cores} usable cores"


def run(
    *,
    markets: int = 20,
    listings: int = 50_000,
    workers: list[int] | None = None,
    crawlers: list[int] | None = None,
    store: str = "opensearch",
    paced: bool = True,
) -> dict[str, Any]:
    """Build the fleet, start Redis and the store, run every phase, return the figures."""
    workers = sorted(set(workers or [1, 2, 4]))
    crawlers = sorted(set(crawlers or [1, 2]))
    if store not in STORES:
        raise ValueError(f"store must be one of {STORES}, not {store!r}")
    if workers[0] < 1 or crawlers[0] < 1:
        raise ValueError("worker and crawler counts must be at least 1")
    machine = cpu_facts()
    previous = get_settings()
    began = time.monotonic()
    with ExitStack() as stack:
        workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="dragnet-bench-pipeline-")))
        redis_srv = stack.enter_context(RedisServer())
        search_url = ""
        if store == "opensearch":
            search_url = stack.enter_context(OpenSearchNode()).url
        built = time.monotonic()
        fleet = stack.enter_context(MarketFleet(markets, listings, profiles_dir=workdir / "profiles"))
        build_s = time.monotonic() - built
        base_env = {k: v for k, v in os.environ.items() if not k.startswith("DRAGNET_")}
        base_env.update(
            {
                "PYTHONPATH": str(REPO_ROOT),
                "DRAGNET_CRAWL__ALLOWED_PRIVATE_HOSTS": '["127.0.0.1"]',
                "DRAGNET_CRAWL__HANDOFF_BATCH_SIZE": str(HANDOFF_BATCH),
                "DRAGNET_WORKERS__THREADS_PER_PROCESS": "1",
                "DRAGNET_WORKERS__CLASSIFY_BATCH_SIZE": str(CLASSIFY_BATCH),
                "DRAGNET_WORKERS__CLASSIFY_MAX_WAIT_S": "0.2",
            }
        )
        # where the model and the data set live carries over; brokers, stores and data dirs do not
        base_env.update({k: v for k, v in os.environ.items() if k.startswith(CARRIED_ENV)})
        bench = Bench(fleet, redis_srv.port, store, search_url, workdir, base_env)
        try:
            crawl_rows, backlog = crawl_alone(bench, crawlers)
            if not backlog:
                raise RuntimeError("the crawl of the fleet yielded no listings")
            bench.sample = backlog[:64]
            configs = []
            paced_rate: float | None = None
            for count in workers:
                row: dict[str, Any] = {"workers": count, "classify_stage": classify_alone(bench, count, backlog)}
                row["backlog"] = backlog_stage(bench, count, backlog)
                row["pipeline"] = [pipeline_stage(bench, count, c) for c in crawlers]
                if paced:
                    if paced_rate is None:
                        # the same offered load for every worker count: half the baseline's capacity
                        paced_rate = max(1.0, (row["backlog"]["items_per_s"] or 2.0) / 2)
                    row["paced"] = paced_stage(bench, count, paced_rate)
                configs.append(row)
        finally:
            use_settings(previous)
    cores = machine["affinity_cpus"]
    complete = all(p["complete"] and p["searchable"] == p["items"] for c in configs for p in c["pipeline"]) and all(
        c["backlog"]["searchable"] == c["backlog"]["items"] for c in configs
    )
    return {
        "benchmark": "pipeline",
        "baseline": f"{workers[0]} worker process(es), same machine, same run",
        "machine": {**machine, "load_avg_1m_end": round(os.getloadavg()[0], 2)},
        "world": {
            "markets": markets,
            "listings": listings,
            "crawled": len(backlog),
            "build_seconds": round(build_s, 2),
            "templates": sorted(set(fleet.templates.values())),
        },
        "store": store,
        "settings": {
            "threads_per_worker_process": 1,
            "classify_batch_size": CLASSIFY_BATCH,
            "classify_max_wait_s": 0.2,
            "handoff_batch_size": HANDOFF_BATCH,
            "crawl_via": "loopback (no SOCKS hop)",
        },
        "crawl": crawl_rows,
        "configs": configs,
        "scaling_vs_baseline": _scaling(configs),
        "bend": _bend(configs, cores),
        "complete": complete,
        "seconds": round(time.monotonic() - began, 1),
        "targets": {"two_workers_vs_one": ">= 1.8", "latency_p50_s": "< 5 (paced)"},
    }


def parse_counts(text: str) -> list[int]:
    """``"1,2,4"`` -> ``[1, 2, 4]``; refuses anything but positive integers."""
    try:
        counts = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise ValueError(f"expected comma-separated counts like 1,2,4, got {text!r}") from None
    if not counts or min(counts) < 1:
        raise ValueError(f"expected positive counts like 1,2,4, got {text!r}")
    return counts


def main(
    json_output: bool = False,
    *,
    markets: int = 20,
    listings: int = 50_000,
    workers: list[int] | None = None,
    crawlers: list[int] | None = None,
    store: str = "opensearch",
) -> None:
    result = run(markets=markets, listings=listings, workers=workers, crawlers=crawlers, store=store)
    if json_output:
        print(json.dumps(result))
    else:
        print_table(result)
    if not result["complete"]:
        print("bench pipeline: some crawled listings never became searchable", file=sys.stderr)
        raise SystemExit(1)


def print_table(result: dict[str, Any]) -> None:
    machine, world = result["machine"], result["world"]
    print(
        f"pipeline benchmark: {world['markets']} simulated markets, {world['crawled']} listings crawled, "
        f"store {result['store']}; {machine['cpu_count']} CPUs ({machine['affinity_cpus']} usable), "
        f"load {machine['load_avg_1m_start']} -> {machine['load_avg_1m_end']}"
    )
    for row in result["crawl"]:
        print(
            f"  crawl alone, {row['crawlers']} crawler(s): {row['items_per_s']} items/s "
            f"({row['pages_per_s']} pages/s, {row['ratio_vs_first']}x)"
        )
    print(f"{'workers':>8} {'classify/s':>11} {'backlog/s':>10} {'crawlers':>9} {'e2e/s':>7} {'p50 s':>7} {'p95 s':>7}")
    for row in result["configs"]:
        for n, pipe in enumerate(row["pipeline"]):
            lead = (
                f"{row['workers']:>8} {row['classify_stage']['items_per_s']:>11} {row['backlog']['items_per_s']:>10}"
                if n == 0
                else " " * 31
            )
            print(
                f"{lead} {pipe['crawlers']:>9} {pipe['items_per_s']} ".ljust(50)
                + f"{pipe.get('latency_p50_s')!s:>7} {pipe.get('latency_p95_s')!s:>7}"
            )
        paced = row.get("paced")
        if paced:
            print(
                f"{'':>8} paced at {paced['offered_items_per_s']} items/s ({paced['markets']} markets): "
                f"p50 {paced['latency_p50_s']} s, p95 {paced['latency_p95_s']} s"
            )
    for workers, ratios in result["scaling_vs_baseline"].items():
        print(f"  {workers} worker(s) vs baseline: " + ", ".join(f"{k} {v}x" for k, v in ratios.items()))
    print(f"  curve: {result['bend']}")
