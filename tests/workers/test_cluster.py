"""A cluster on one machine, through its faults: two OpenSearch nodes forming one cluster (the
listings index with one replica), a persistent Redis, two crawler processes sharing the Redis
frontier, two classify workers, one index worker and beat.  While the simulated world is crawled
Redis is killed and started again from its append-only file, one classify worker is killed
(``kill -9``) while it holds a batch, and one search node is killed in the middle of a bulk.
Afterwards every listing the sites serve is searchable exactly once, a listing that changed
before a second crawl round has its two versions, and the dead-letter queue is empty.

Throughput and crawl-to-searchable latency are printed (``-s``), never asserted: they are
figures of a run on a shared machine with faults in it, not a benchmark."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis

from bench.pipeline import percentile
from classifier.model_store import ensure_default_model
from crawlers.simsites import SimulatedWorld
from crawlers.simsites.market import MarketSite
from dragnet.documents import canonicalize_url
from dragnet.services.opensearch_cluster import OpenSearchCluster
from dragnet.services.process import ManagedProcess, wait_until
from dragnet.services.redis_server import RedisServer
from dragnet.settings import DragnetSettings, load_settings, use_settings
from index.store import SearchQuery
from tests.workers.conftest import FAST_RECOVERY, REPO_ROOT, Pipeline, task_ids
from workers.app import configure
from workers.dlq import open_dlq
from workers.ledger import InflightLedger

pytestmark = [pytest.mark.integration, pytest.mark.slow]

SITES = ("nightshade", "velvet", "tavern")
CHANGED = 3  # listings of one market edited before the second crawl round


class FirstSeen:
    """Polls the store and notes when each listing first answered a search, beside its
    ``crawled_at``: the crawl-to-searchable latency of every listing, whatever process crawled it."""

    def __init__(self, store: Any) -> None:
        self.store = store
        self.latency_s: dict[str, float] = {}
        self.last_seen_at = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                found = self.store.search(SearchQuery(size=1000, facets=False, highlight=False, sort="newest"))
                now = time.time()
                for hit in found.hits:
                    if hit.listing.id not in self.latency_s:
                        self.latency_s[hit.listing.id] = now - hit.listing.crawled_at.timestamp()
                        self.last_seen_at = now
            except Exception:  # noqa: BLE001 - a node is down on purpose: asked again next round
                pass
            time.sleep(0.25)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)


@pytest.fixture
def cluster_pipeline(settings: DragnetSettings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """Its own Redis (append-only, so a restart keeps the queues) and its own two-node cluster:
    both are taken down on purpose, which the session's services must not be."""
    ensure_default_model()  # trained once per machine; never inside a worker under test
    with RedisServer(persistent=True) as redis_srv, OpenSearchCluster(2, heap="448m") as cluster:
        env_vars = {
            "DRAGNET_ENV": "test",
            "DRAGNET_PATHS__DATA_DIR": str(settings.paths.data_dir),
            "DRAGNET_REDIS__URL": redis_srv.url,
            "DRAGNET_SEARCH__BACKEND": "opensearch",
            "DRAGNET_SEARCH__URL": cluster.url,  # both nodes: the client fails over between them
            "DRAGNET_SEARCH__INDEX_PREFIX": f"cl{uuid.uuid4().hex[:8]}",
            "DRAGNET_SEARCH__SHARDS": "2",  # a primary on each node, so the killed one holds one
            "DRAGNET_SEARCH__REPLICAS": "1",
            "DRAGNET_SEARCH__MAX_RETRIES": "3",
            "DRAGNET_SEARCH__REQUEST_TIMEOUT_S": "10",
            "DRAGNET_WORKERS__FEEDS_CHECK_INTERVAL_S": "3",  # beat publishes often enough to be seen
            "DRAGNET_CRAWL__RETRY_BACKOFF_S": "0.2",
            "DRAGNET_CRAWL__HANDOFF_BATCH_SIZE": "10",  # listings flow on during the crawl, not at its end
            **FAST_RECOVERY,
        }
        for key, value in env_vars.items():
            monkeypatch.setenv(key, value)
        pipeline_settings = load_settings()
        use_settings(pipeline_settings)
        configure(pipeline_settings)
        env = {k: v for k, v in os.environ.items() if not k.startswith("DRAGNET_")}
        env.update(env_vars)
        env["PYTHONPATH"] = str(REPO_ROOT)
        pipe = Pipeline(pipeline_settings, env, tmp_path / "workers")
        try:
            yield pipe, redis_srv, cluster
        finally:
            pipe.close()


def _crawler(pipe: Pipeline, name: str, proxy_url: str, sites: tuple[str, ...]) -> subprocess.Popen[str]:
    """``dragnet crawl SITES --shared-frontier``: a crawler process handing its listings on."""
    log = (pipe.workdir / f"{name}.log").open("w")
    return subprocess.Popen(
        [str(Path(sys.executable).with_name("dragnet")), "crawl", *sites, "--shared-frontier", "--proxy", proxy_url]
        + ["--json"],
        stdout=subprocess.PIPE,
        stderr=log,
        text=True,
        env=dict(pipe.env, DRAGNET_LOG_LEVEL="WARNING"),
        cwd=REPO_ROOT,
    )


def _finish(proc: subprocess.Popen[str], pipe: Pipeline, name: str, may_be_idle: bool = False) -> int:
    """The listings one crawler process emitted.  With ``may_be_idle``, a process that found no
    work in the shared frontier (the other took it all) may exit 1 with "no listings", as
    ``dragnet crawl`` does by design; any other failure fails the test."""
    stdout, _ = proc.communicate(timeout=240)
    log = (pipe.workdir / f"{name}.log").read_text(errors="replace")
    if may_be_idle and proc.returncode == 1 and "dragnet crawl: no listings" in log:
        return 0
    assert proc.returncode == 0, f"{name} exited {proc.returncode}:\n{log[-4000:]}"
    return int(json.loads(stdout.strip().splitlines()[-1])["items"])


def _in_flight(proc: ManagedProcess) -> set[str]:
    log = proc.log_path.read_text(errors="replace")
    return task_ids(log, "received") - task_ids(log, "succeeded")


def _beat_sent(beat: ManagedProcess) -> int:
    """How many tasks beat has published so far (its log says each)."""
    return beat.log_path.read_text(errors="replace").count("Sending due task")


def test_a_cluster_on_one_machine_survives_a_node_a_worker_and_the_broker(
    cluster_pipeline: Any, socks_proxy: Any
) -> None:
    pipe, redis_srv, cluster = cluster_pipeline
    classify_a = pipe.start_worker("classify-a", queues="classify", wait_ready=False)
    classify_b = pipe.start_worker("classify-b", queues="classify", wait_ready=False)
    indexer = pipe.start_worker("index", queues="index,feeds", wait_ready=False)
    for proc in (classify_a, classify_b, indexer):
        pipe.wait_ready(proc, timeout_s=180)
    beat = ManagedProcess(
        "beat",
        [sys.executable, "-m", "celery", "-A", "workers.app", "beat", "--loglevel", "INFO"]
        + ["--schedule", str(pipe.workdir / "beat-schedule")],
        pipe.workdir / "beat.log",
        env=pipe.env,
        cwd=REPO_ROOT,
    )
    beat.start()
    pipe.workers.append(beat)  # stopped with the workers
    store = pipe.store()
    health = httpx.get(
        f"{cluster.live_url()}/_cluster/health/{store.listings_alias}",
        params={"wait_for_status": "green", "timeout": "60s"},
        timeout=70,
    ).json()
    assert health["number_of_nodes"] == 2 and health["status"] == "green", health  # each primary has its replica

    with SimulatedWorld(
        listings_per_market=40, proxy=socks_proxy, forum_posts=30, social_posts=1, gates=False
    ) as world:
        truth = world.ground_truth()
        expected = {canonicalize_url(record["url"]) for site in SITES for record in truth[site]}
        watcher = FirstSeen(store)
        started = time.time()
        crawlers = [_crawler(pipe, f"crawler-{n}", world.proxy_url, SITES) for n in range(2)]
        try:
            # 1. The broker and the frontier go away mid-crawl and come back from the append-only file.
            ledger = InflightLedger(pipe.settings)
            wait_until(lambda: ledger.size() >= 10, 180, "the crawlers to hand listings on", 0.05)
            crawling = sum(1 for proc in crawlers if proc.poll() is None)
            beat_sent_before = _beat_sent(beat)
            redis_srv.kill()
            time.sleep(2)
            redis_srv.start()
            restarted_at = time.time()
            print(f"\nrestarted Redis (kill, start) with {crawling} crawler(s) crawling")

            # 2. kill -9 of a classify worker holding a batch: acks_late gives its batch to the other.
            victims = (classify_a, classify_b)
            wait_until(lambda: any(_in_flight(p) for p in victims), 120, "a classify batch in flight", 0.02)
            dead = next(p for p in victims if _in_flight(p))
            dead.kill()  # SIGKILL to the worker's process group: parent and pool process
            held = _in_flight(dead)
            survivor = classify_b if dead is classify_a else classify_a
            print(f"killed -9 {dead.name} holding {len(held)} classify batch(es)")

            # 3. A search node dies while the index worker has a bulk in flight.
            wait_until(lambda: pipe.count() >= 10 and bool(_in_flight(indexer)), 180, "a bulk in flight", 0.02)
            victim = next(m.name for m in cluster.members if m.name != cluster.manager_name())
            shards = httpx.get(f"{cluster.live_url()}/_cat/shards/{store.listings_alias}", timeout=10).text
            cluster.kill(victim)  # SIGKILL: the elected cluster manager stays, so the cluster keeps its quorum
            print(f"killed search node {victim} at {pipe.count()} listings searchable; shards were:\n{shards}")

            split = [_finish(proc, pipe, f"crawler-{n}", may_be_idle=True) for n, proc in enumerate(crawlers)]
        finally:
            for proc in crawlers:
                if proc.poll() is None:
                    proc.kill()
        crawled = sum(split)
        assert crawled >= len(expected), split

        final = pipe.wait_count(len(expected), timeout_s=180, stable_s=2)
        watcher.close()
        assert final == len(expected), f"{final} of {len(expected)} searchable\n{pipe.logs()}"
        elapsed = watcher.last_seen_at - started
        latencies = list(watcher.latency_s.values())

        # Every listing of the sites once: no duplicate document, none missing, all classified.
        stored = list(store.scan(SearchQuery(), batch_size=500))
        ids = [item.id for item in stored]
        assert len(ids) == len(set(ids)), "a listing was indexed twice"
        assert {item.canonical_url for item in stored} == expected
        assert all(item.classification is not None for item in stored)
        assert {item.version for item in stored} == {1}
        found = store.search(SearchQuery(ids=ids, size=1000, facets=False, highlight=False))
        assert found.total == len(expected)
        # The batch the killed worker held was delivered again and finished on the other one.
        assert held <= task_ids(survivor.log_path.read_text(errors="replace"), "succeeded"), pipe.logs()

        # 4. Second round: three listings changed; their new content is version 2, kept with version 1.
        market = world.sites["nightshade"]
        assert isinstance(market, MarketSite)
        changed_urls = set()
        for position in range(CHANGED):
            item = market.data.items[position]
            market.data.items[position] = replace(item, description=item.description + " Restocked, new batch.")
            market.items_by_id[item.item_id] = market.data.items[position]
            changed_urls.add(canonicalize_url(market.base_url + market.item_path(item)))
        client = redis.Redis.from_url(redis_srv.url)
        for key in client.scan_iter("*:dupefilter:*", count=1000):  # the freshness window is over
            client.delete(key)
        # one process: two on one small site may leave one with no listing, which exits 1 by design
        _finish(_crawler(pipe, "recrawl", world.proxy_url, ("nightshade",)), pipe, "recrawl")

    def changed_indexed() -> bool:
        store.refresh()
        current = [item for item in store.scan(SearchQuery(market=["nightshade"]), batch_size=500)]
        return sum(1 for item in current if item.version == 2) == CHANGED

    wait_until(changed_indexed, 120, "the changed listings' second versions", 0.5)
    stored = list(store.scan(SearchQuery(), batch_size=500))
    assert len(stored) == len({item.id for item in stored}) == len(expected)
    by_url = {item.canonical_url: item for item in stored}
    for url in changed_urls:
        assert by_url[url].version == 2
        assert sorted(v.version for v in store.history(by_url[url].id)) == [1, 2]
    assert {item.version for url, item in by_url.items() if url not in changed_urls} == {1}

    assert open_dlq(pipe.settings).size() == 0, [entry.reason for entry in open_dlq(pipe.settings).list()]
    wait_until(lambda: InflightLedger(pipe.settings).size() == 0, 60, "the in-flight ledger to be settled")
    # Beat kept publishing through the broker's restart; every process but the killed ones runs.
    assert beat.running and indexer.running and survivor.running
    wait_until(lambda: _beat_sent(beat) > beat_sent_before + 2, 30, "beat publishing after the restart")
    health = httpx.get(f"{cluster.live_url()}/_cluster/health/{store.listings_alias}", timeout=10).json()
    assert health["number_of_nodes"] == 1 and health["status"] == "yellow", health  # replicas wait for a node

    print(
        f"cluster run: {len(expected)} listings (crawled {split} by the 2 processes) searchable in {elapsed:.1f}s "
        f"= {len(expected) / elapsed:.2f} listings/s, through a search node kill, a classify worker kill -9 "
        f"and a Redis restart ({time.time() - restarted_at:.0f}s ago)"
    )
    print(
        f"crawl-to-searchable latency over {len(latencies)} listings: p50 {percentile(latencies, 0.5):.2f}s, "
        f"p95 {percentile(latencies, 0.95):.2f}s, max {max(latencies):.2f}s"
    )
