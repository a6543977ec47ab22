"""Delivery guarantees against the real parts: Celery workers in subprocesses, the session's Redis
and OpenSearch node, the real classifier.  Nothing lost, nothing indexed twice, poison set aside."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis

from dragnet.documents import Listing
from dragnet.services.process import free_port, wait_until
from dragnet.services.promtool import check_metrics
from tests.workers.conftest import REPO_ROOT, Pipeline, make_listings, task_ids
from workers.dlq import open_dlq
from workers.ledger import InflightLedger
from workers.pipeline import Poison
from workers.submit import flush, submit_batch, submit_raw

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def _assert_each_once(pipeline: Pipeline, listings: list[Listing]) -> None:
    ids = pipeline.indexed_ids()
    assert len(ids) == len(set(ids)), "a listing was indexed twice"
    expected = {item.id for item in listings}
    missing = expected - set(ids)
    assert not missing, f"{len(missing)} listing(s) lost"
    assert set(ids) == expected
    store = pipeline.store()
    for item in listings[:: max(1, len(listings) // 10)]:
        stored = store.get(item.id)
        assert stored is not None and stored.classification is not None
        assert [v.content_sha256 for v in store.history(item.id)] == [item.content_sha256]


def test_kill9_of_a_classify_worker_mid_batch_loses_and_duplicates_nothing(pipeline: Pipeline) -> None:
    listings = make_listings(800, "kill")  # enough batches that one is in flight when a kill lands
    submit_batch(listings)
    flush()
    in_flight: set[str] = set()
    for attempt in range(4):
        # The kill races the end of the batch it aims at: one that finished first is acknowledged
        # and proves nothing, so a worker killed between batches is replaced and the kill repeated.
        first = pipeline.start_worker(f"classify-a{attempt}")

        def mid_batch(first: Any = first) -> bool:
            log = first.log_path.read_text(errors="replace")
            done = task_ids(log, "succeeded")
            return len(done) >= 1 and bool(task_ids(log, "received") - done) and pipeline.count() < len(listings)

        wait_until(mid_batch, 120, "the worker to be in the middle of a batch", interval_s=0.05)
        first.kill()  # SIGKILL to the worker's whole process group: parent and pool processes
        log = first.log_path.read_text(errors="replace")
        in_flight = task_ids(log, "received") - task_ids(log, "succeeded")
        if in_flight:
            break
    assert in_flight, "no kill hit a batch in progress in 4 tries"
    indexed_at_kill = pipeline.count()
    assert indexed_at_kill < len(listings)

    second = pipeline.start_worker("classify-b")
    final = pipeline.wait_count(len(listings), timeout_s=180, stable_s=2)
    assert final == len(listings), pipeline.logs()
    _assert_each_once(pipeline, listings)
    # The batches the dead worker held were delivered again to the new one and finished there.
    redone = task_ids(second.log_path.read_text(errors="replace"), "succeeded")
    assert in_flight <= redone, (in_flight - redone, pipeline.logs())
    assert open_dlq(pipeline.settings).size() == 0


def test_a_batch_the_broker_lost_is_published_again_from_the_in_flight_ledger(pipeline: Pipeline) -> None:
    listings = make_listings(60, "lost")
    submit_batch(listings)
    flush()
    client = redis.Redis.from_url(str(pipeline.settings.redis.url))
    # Lose one published batch the way a broker killed between a worker's BRPOP and its
    # unacknowledged-filing loses it: gone from the queue, filed nowhere.
    assert client.llen("classify") == 3
    assert client.rpop("classify") is not None
    worker = pipeline.start_worker("ledger")
    final = pipeline.wait_count(len(listings), timeout_s=180, stable_s=2)
    assert final == len(listings), pipeline.logs()
    _assert_each_once(pipeline, listings)
    assert "publishing them again" in worker.log_path.read_text(errors="replace")
    wait_until(lambda: InflightLedger(pipeline.settings).size() == 0, 30, "the ledger to be settled")


def test_poison_goes_to_the_dlq_with_its_reason_while_the_rest_flow_on(
    pipeline: Pipeline, tmp_path: Path, promtool: str
) -> None:
    metrics_port = free_port()
    # Started the operator's way: `dragnet worker --queues classify,index --concurrency 1`.
    pipeline.start_worker("mixed", extra_env={"DRAGNET_WORKERS__METRICS_PORT": str(metrics_port)}, cli=True)
    good = make_listings(60, "pz")
    template = good[0].model_dump(mode="json")
    huge = Listing.new(
        "http://pz9.onion/huge", source_kind="market", title="huge", text="x" * (10 * 1024 * 1024)
    ).model_dump(mode="json")
    bad_utf8 = Listing.new("http://pz9.onion/utf8", source_kind="market", title="caf\u00e9", text="menu").model_dump(
        mode="json"
    ) | {"text": b"caf\xe9 \xff\xfe offer".decode("utf-8", "surrogateescape")}
    empty = Listing.new("http://pz9.onion/empty", source_kind="market", title="", text="   ").model_dump(mode="json")
    wrong = {k: v for k, v in template.items() if k != "canonical_url"} | {"source_kind": "carrier-pigeon"}
    submit_raw(
        [item.model_dump(mode="json") for item in good[:30]]
        + [huge, bad_utf8, empty, wrong]
        + [item.model_dump(mode="json") for item in good[30:]]
    )

    assert pipeline.wait_count(len(good), timeout_s=120, stable_s=1) == len(good), pipeline.logs()
    _assert_each_once(pipeline, good)
    dlq = open_dlq(pipeline.settings)
    wait_until(lambda: dlq.size() == 4, 30, "four dead letters")
    reasons = sorted(entry.reason for entry in dlq.list())
    assert reasons[0].startswith("empty text")
    assert reasons[1] == "invalid UTF-8 in field text"
    assert reasons[2].startswith("text too large: 10485764 bytes > max_text_bytes")
    assert reasons[3].startswith("wrong schema:") and "canonical_url" in reasons[3] and "source_kind" in reasons[3]
    big = next(e for e in dlq.list() if e.reason.startswith("text too large"))
    assert len(dlq.item(big.id)["text"]) == 10 * 1024 * 1024  # kept whole, as evidence

    # The operator's view: `dragnet dlq list` and the worker's Prometheus metrics.
    env = dict(pipeline.env)
    listed = subprocess.run(
        [str(Path(sys.executable).with_name("dragnet")), "dlq", "list", "--json"],
        capture_output=True,
        text=True,
        env=env,
        cwd=REPO_ROOT,
        timeout=120,
    )
    assert listed.returncode == 0, listed.stderr
    rows = [json.loads(line) for line in listed.stdout.splitlines()]
    assert sorted(r["reason"] for r in rows) == reasons
    body = httpx.get(f"http://127.0.0.1:{metrics_port}/metrics", timeout=10).text
    assert "dragnet_dlq_size 4.0" in body
    assert 'dragnet_worker_items_total{outcome="written",stage="index_batch"} 60.0' in body
    assert 'dragnet_dead_letters_total{task="workers.tasks.classify_batch"} 4.0' in body
    assert 'dragnet_queue_depth{queue="classify"}' in body
    assert "dragnet_worker_batch_size_bucket" in body and "dragnet_crawl_to_indexed_seconds_bucket" in body
    checked = check_metrics(body)  # Prometheus's own parser accepts the worker's exposition
    assert checked.returncode == 0, checked.stdout + checked.stderr
    # Every task is counted and primed at zero, not only the pipeline's classify and index.
    assert 'dragnet_worker_tasks_total{outcome="failure",task="workers.tasks.deliver_feed"} 0.0' in body
    assert 'dragnet_worker_tasks_total{outcome="retry",task="workers.tasks.probe_due_markets"} 0.0' in body

    # Replay: an item that failed for a cause since fixed flows on; a poison one comes back.
    late = make_listings(1, "replayed")[0]
    fixed = dlq.put(
        "workers.tasks.index_batch",
        Poison(late.model_dump(mode="json"), "gave up after 11 attempts: store unavailable", late.doc_id),
    )
    empty_entry = next(e for e in dlq.list() if e.reason.startswith("empty text"))
    replayed = subprocess.run(
        [str(Path(sys.executable).with_name("dragnet")), "dlq", "replay", fixed.id, empty_entry.id],
        capture_output=True,
        text=True,
        env=env,
        cwd=REPO_ROOT,
        timeout=120,
    )
    assert replayed.returncode == 0 and "replayed 2" in replayed.stdout, replayed.stderr
    assert pipeline.wait_count(len(good) + 1, timeout_s=60) == len(good) + 1
    assert pipeline.store().get(late.id) is not None
    wait_until(lambda: any(e.attempts == 2 for e in dlq.list()), 30, "the empty item back in the DLQ")
    assert dlq.size() == 4 and fixed.id not in {e.id for e in dlq.list()}


def test_redis_restart_and_a_60s_search_outage_lose_nothing(pipeline: Pipeline, redis_server, opensearch_node) -> None:  # type: ignore[no-untyped-def]
    worker = pipeline.start_worker("steady")
    listings = make_listings(300, "outage")
    produced = threading.Event()
    errors: list[BaseException] = []

    def produce() -> None:  # a crawler handing over batches through both outages
        try:
            for start in range(0, len(listings), 20):
                submit_batch(listings[start : start + 20])
                time.sleep(0.5)
            flush()
        except BaseException as exc:  # noqa: BLE001 - the main thread re-raises what the producer hit
            errors.append(exc)
        finally:
            produced.set()

    producer = threading.Thread(target=produce, daemon=True)
    producer.start()
    wait_until(lambda: pipeline.count() >= 40, 120, "the first listings indexed")

    redis_server.kill()  # the broker dies (SIGKILL) with messages queued and in flight ...
    time.sleep(2)
    redis_server.start()  # ... and comes back on the same port from its append-only file
    before = pipeline.count()
    wait_until(lambda: pipeline.count() > before + 40, 120, "indexing to resume after the Redis restart")

    opensearch_node.stop()  # the search engine is away for 60 s
    try:
        time.sleep(60)
    finally:
        opensearch_node.start()
    assert produced.wait(120) and not errors, errors
    final = pipeline.wait_count(len(listings), timeout_s=240, stable_s=2)
    assert final == len(listings), pipeline.logs()
    _assert_each_once(pipeline, listings)
    assert open_dlq(pipeline.settings).size() == 0
    log = worker.log_path.read_text(errors="replace")
    assert "retrying in" in log  # the index tasks backed off while the engine was away
    wait_until(lambda: InflightLedger(pipeline.settings).size() == 0, 30, "the ledger to be settled")
    assert worker.running
