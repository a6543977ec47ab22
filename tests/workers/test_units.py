"""Worker building blocks that need no model and no search engine: screening of poison items,
size-or-time batching, the dead-letter queue (SQLite and real Redis), back-off, configuration."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from dragnet.documents import Classification, Listing
from dragnet.settings import DragnetSettings, use_settings
from lifespan.registry import register_market
from lifespan.store import LifespanStore
from workers.app import celery_config
from workers.batching import Batcher
from workers.dlq import RedisDeadLetterQueue, SqliteDeadLetterQueue, dumps, loads, open_dlq
from workers.pipeline import Poison, TransientError, classify_listings, screen, screen_item
from workers.submit import replay, submit_raw
from workers.tasks import backoff_s, deliver_feed, probe_due_markets, probe_market


def _listing(n: int, text: str = "2g cocaine 90% pure, ships EU, wickr me") -> Listing:
    return Listing.new(
        f"http://market{n % 3}.onion/item/{n}",
        source_kind="market",
        title=f"item {n}",
        text=text,
        market=f"market{n % 3}",
    )


def test_screen_sends_each_kind_of_poison_away_with_its_reason(settings: DragnetSettings) -> None:
    good = _listing(1)
    bad_utf8 = good.model_dump(mode="json") | {"text": b"caf\xe9 \xff".decode("utf-8", "surrogateescape")}
    huge = _listing(2).model_dump(mode="json") | {"text": "x" * (10 * 1024 * 1024)}
    empty = Listing.new("http://m.onion/empty", source_kind="market").model_dump(mode="json")
    wrong = {"id": 5, "url": ["not", "a", "url"]}
    result = screen([good.model_dump(mode="json"), bad_utf8, huge, empty, wrong, "just a string", good])
    assert [item.doc_id for item in result.listings] == [good.doc_id]  # the duplicate is merged
    reasons = [p.reason for p in result.poison]
    assert reasons[0] == "invalid UTF-8 in field text"
    assert reasons[1].startswith("text too large: 10485766 bytes")
    assert reasons[2].startswith("empty text")
    assert reasons[3].startswith("wrong schema:") and "url" in reasons[3]
    assert reasons[4] == "wrong schema: expected a listing object, got str"


def test_size_cap_comes_from_settings(settings: DragnetSettings) -> None:
    small = settings.model_copy(update={"workers": settings.workers.model_copy(update={"max_text_bytes": 10})})
    assert isinstance(screen_item(_listing(1, text="short"), settings), Listing)
    poison = screen_item(_listing(1, text="much longer than ten bytes"), small)
    assert isinstance(poison, Poison) and "max_text_bytes 10" in poison.reason


def test_batcher_sends_full_batches_at_once_and_a_partial_one_after_the_wait() -> None:
    sent: list[tuple[float, list[int]]] = []
    done = threading.Event()

    def flush(batch: list[int]) -> None:
        sent.append((time.monotonic(), batch))
        if sum(len(b) for _, b in sent) == 23:
            done.set()

    batcher: Batcher[int] = Batcher(flush, max_size=10, max_wait_s=0.3)
    start = time.monotonic()
    for chunk in ([0, 1, 2, 3, 4, 5, 6], [7, 8, 9, 10, 11, 12, 13], list(range(14, 23))):
        batcher.add(chunk)
    assert [len(b) for _, b in sent] == [10, 10]  # full batches leave in the caller's thread
    assert done.wait(5)
    assert [b for _, b in sent][2] == [20, 21, 22]
    assert sent[2][0] - start >= 0.25  # the partial batch waited for more items
    assert sorted(x for _, b in sent for x in b) == list(range(23))
    batcher.add([99])
    batcher.flush()
    assert sent[-1][1] == [99] and batcher.pending() == 0


def test_dlq_json_keeps_bytes_and_lone_surrogates() -> None:
    item = {"text": "a\udcffb", "raw": b"\x00\xff"}
    assert loads(dumps(item)) == item


def _exercise_dlq(dlq: SqliteDeadLetterQueue | RedisDeadLetterQueue) -> None:
    poison = Poison({"title": "x", "text": "a\udcff"}, "invalid UTF-8 in field text", None)
    first = dlq.put("workers.tasks.classify_batch", poison)
    again = dlq.put("workers.tasks.classify_batch", poison)  # a redelivered task: same entry
    other = dlq.put("workers.tasks.index_batch", Poison({"id": 1}, "wrong schema: id"))
    assert first.id == again.id and again.attempts == 2
    assert dlq.size() == 2
    entries = {e.id: e for e in dlq.list()}
    assert entries[first.id].reason == "invalid UTF-8 in field text"
    assert entries[other.id].task == "workers.tasks.index_batch"
    assert dlq.item(first.id) == poison.item
    dlq.remove(first.id)
    assert dlq.size() == 1
    with pytest.raises(KeyError):
        dlq.item(first.id)


def test_sqlite_dlq(settings: DragnetSettings) -> None:
    _exercise_dlq(SqliteDeadLetterQueue(settings.paths.data_dir / "dlq.sqlite3"))


@pytest.mark.integration
def test_redis_dlq(redis_server) -> None:  # type: ignore[no-untyped-def]
    dlq = RedisDeadLetterQueue(redis_server.url, key="test:units:dlq")
    dlq.clear()
    try:
        _exercise_dlq(dlq)
    finally:
        dlq.clear()


def test_backoff_grows_exponentially_with_jitter_and_a_cap(settings: DragnetSettings) -> None:
    w = settings.workers
    for attempt in range(12):
        ceiling = min(w.retry_backoff_max_s, w.retry_backoff_base_s * 2**attempt)
        value = backoff_s(attempt)
        assert ceiling / 2 <= value <= ceiling


def test_routing_and_delivery_come_from_settings(settings: DragnetSettings) -> None:
    routes = dict(settings.workers.routes, **{"workers.tasks.classify_batch": "gpu-classify"})
    custom = settings.model_copy(
        update={
            "redis": settings.redis.model_copy(update={"url": "redis://127.0.0.1:1/3"}),
            "workers": settings.workers.model_copy(update={"routes": routes, "visibility_timeout_s": 42.0}),
        }
    )
    conf = celery_config(custom)
    assert conf["task_routes"]["workers.tasks.classify_batch"] == "gpu-classify"
    assert "gpu-classify" in {q.name for q in conf["task_queues"]}
    assert conf["broker_url"] == "redis://127.0.0.1:1/3"
    assert conf["broker_transport_options"]["visibility_timeout"] == 42.0
    assert conf["broker_transport_options"]["unacked_restore_interval"] == 10.0
    assert conf["task_acks_late"] and conf["task_reject_on_worker_lost"]
    assert conf["beat_schedule"]["probe-due-markets"]["task"] == "workers.tasks.probe_due_markets"


def test_one_item_that_breaks_the_classifier_is_isolated_and_the_rest_go_on() -> None:
    """The isolation logic of classify_listings (not the engine): a classifier callable that fails
    on one text must cost that item only; one that fails on everything is a transient outage."""
    verdict = Classification(is_drug_sale=True, score=0.9, threshold=0.5, model_version="unit")

    def picky(texts: list[str]) -> list[Classification]:
        if any("boom" in t for t in texts):
            raise RuntimeError("engine choked")
        return [verdict for _ in texts]

    items = [_listing(1), _listing(2, text="boom"), _listing(3)]
    done, poison = classify_listings(items, picky)
    assert [d.id for d in done] == [items[0].id, items[2].id]
    assert all(d.classification == verdict for d in done)
    assert len(poison) == 1 and poison[0].key == items[1].doc_id and "engine choked" in poison[0].reason

    def broken(texts: list[str]) -> list[Classification]:
        raise RuntimeError("CUDA out of memory")

    with pytest.raises(TransientError):
        classify_listings(items, broken)


@pytest.mark.integration
def test_feed_and_probe_tasks_call_the_feeds_and_lifespan_parts(settings: DragnetSettings, socks_proxy) -> None:  # type: ignore[no-untyped-def]
    """Run eagerly (no broker): each task reaches the real function of its part (probes go through
    the SOCKS5 proxy; the market's onion name is unknown to it, so the market is down)."""

    use_settings(settings.model_copy(update={"tor": settings.tor.model_copy(update={"socks_url": socks_proxy.url})}))

    assert deliver_feed.apply(args=["no-such-platform"]).get() == 0  # no webhook subscribed: nothing to push
    store = LifespanStore()
    try:
        market = register_market(store, "workers-test-market", f"http://{'w' * 56}.onion/")
    finally:
        store.close()
    assert probe_due_markets.apply().get() >= 1  # a market never probed is due
    result = probe_market.apply(args=[market.market_id]).get()
    assert isinstance(result, dict) and result  # a ProbeResult, recorded by the lifespan store


def test_replaying_a_still_poison_item_brings_it_back_with_its_attempts_counted(settings: DragnetSettings) -> None:
    submit_raw([Listing.new("http://m.onion/blank", source_kind="forum", text="  ").model_dump(mode="json")])
    dlq = open_dlq(settings)
    [entry] = dlq.list()
    assert entry.reason.startswith("empty text") and entry.attempts == 1
    assert replay(settings, ids=[entry.id]) == 1
    [again] = dlq.list()
    assert again.id == entry.id and again.attempts == 2


def test_dragnet_worker_without_a_broker_says_how_to_fix_it() -> None:
    env = {k: v for k, v in os.environ.items() if k != "DRAGNET_REDIS__URL"}
    result = subprocess.run(
        [str(Path(sys.executable).with_name("dragnet")), "worker", "--queues", "classify"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert result.returncode == 2
    assert "DRAGNET_REDIS__URL" in result.stderr and "dragnet demo" in result.stderr
