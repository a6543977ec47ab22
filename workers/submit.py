"""How producers (the crawler's handoff pipeline, ``dragnet dlq replay``, the demo) hand listings
to the workers.

With ``settings.redis.url`` set, listings are batched (``workers.classify_batch_size`` items or
``workers.classify_max_wait_s`` after the first, whichever comes first) and published to the
classify queue; publishing retries through a broker restart.  Without it (embedded mode), the
same pipeline code runs right here: screen, classify, index, dead-letter.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from dragnet.documents import Listing
from dragnet.settings import DragnetSettings, get_settings
from index.factory import open_store
from workers.app import app, configure
from workers.batching import Batcher
from workers.dlq import dead_letter, iter_items, open_dlq
from workers.ledger import InflightLedger
from workers.pipeline import (
    Poison,
    TransientError,
    classify_listings,
    index_listings,
    latency_since_crawl,
    notify_feeds,
    screen,
)
from workers.tasks import CLASSIFY, INDEX, PUBLISH_RETRY_POLICY, classify_batch, index_batch

log = logging.getLogger(__name__)


def _chunks(items: list[Any], size: int) -> Iterable[list[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _payload(item: Listing | Any) -> Any:
    return item.model_dump(mode="json") if isinstance(item, Listing) else item


# --- distributed mode ------------------------------------------------------------------------


def _ensure_app(settings: DragnetSettings) -> None:
    if app.conf.broker_url != settings.redis.url:
        configure(settings)


def _publish(stage: str, payload: list[Any], settings: DragnetSettings) -> None:
    _ensure_app(settings)

    task = classify_batch if stage == "classify" else index_batch
    task.apply_async(args=[payload], retry=True, retry_policy=PUBLISH_RETRY_POLICY)


_ledgers: dict[str, InflightLedger] = {}


def _record(payload: list[Any], settings: DragnetSettings) -> None:
    """File the items in the in-flight ledger before they are buffered or published, so that
    even a batch lost with this process or inside the broker is published again."""
    key = str(settings.redis.url)
    with _batchers_lock:
        ledger = _ledgers.get(key)
        if ledger is None:
            ledger = _ledgers[key] = InflightLedger(settings)
    ledger.record(payload)


_batchers: dict[tuple[str, int, float], Batcher[Any]] = {}
_batchers_lock = threading.Lock()


def _batcher(settings: DragnetSettings) -> Batcher[Any]:
    key = (str(settings.redis.url), settings.workers.classify_batch_size, settings.workers.classify_max_wait_s)
    with _batchers_lock:
        batcher = _batchers.get(key)
        if batcher is None:
            batcher = Batcher(
                lambda batch: _publish("classify", batch, settings),
                settings.workers.classify_batch_size,
                settings.workers.classify_max_wait_s,
            )
            _batchers[key] = batcher
        return batcher


def flush() -> None:
    """Publish every partial batch now (a crawl ended; the wait bound would do it anyway)."""
    with _batchers_lock:
        batchers = list(_batchers.values())
    for batcher in batchers:
        batcher.flush()


# --- embedded mode ---------------------------------------------------------------------------


@dataclass
class EmbeddedOutcome:
    """What an in-process run did (the demo prints it)."""

    received: int = 0
    classified: int = 0
    written: int = 0
    unchanged: int = 0
    dead_lettered: int = 0
    latencies_s: list[float] = field(default_factory=list)

    def add(self, other: EmbeddedOutcome) -> None:
        self.received += other.received
        self.classified += other.classified
        self.written += other.written
        self.unchanged += other.unchanged
        self.dead_lettered += other.dead_lettered
        self.latencies_s += other.latencies_s


_stores: dict[str, Any] = {}
_embedded_lock = threading.Lock()


def _store_for(settings: DragnetSettings) -> Any:
    key = (
        f"{settings.search.backend}|{settings.search.url}|{settings.search.index_prefix}|{settings.embedded_store_path}"
    )
    store = _stores.get(key)
    if store is None:
        store = open_store(settings)
        _stores[key] = store
    return store


def close_embedded_stores() -> None:
    with _embedded_lock:
        for store in _stores.values():
            try:
                store.close()
            except Exception:  # noqa: BLE001 - closing at shutdown: nothing left to save
                pass
        _stores.clear()


def process_in_process(
    items: list[Any], *, stage: str = "classify", settings: DragnetSettings | None = None, attempts: int = 3
) -> EmbeddedOutcome:
    """Run the task code here, without a broker: the embedded mode of the whole pipeline.

    Transient failures (engine, store) are retried a few times with back-off; what still fails
    goes to the dead-letter queue with the reason, like a worker's gave-up path."""

    settings = settings or get_settings()
    outcome = EmbeddedOutcome(received=len(items))
    task_name = CLASSIFY if stage == "classify" else INDEX
    with _embedded_lock:
        screened = screen(items, settings)
        dead_letter(task_name, screened.poison)
        outcome.dead_lettered += len(screened.poison)
        for batch in _chunks(screened.listings, settings.workers.classify_batch_size):
            for attempt in range(attempts):
                try:
                    if stage == "classify":
                        todo, ready = batch, []
                    else:  # replayed index items keep their verdict; only unclassified ones are classified
                        todo = [item for item in batch if item.classification is None]
                        ready = [item for item in batch if item.classification is not None]
                    done, poison = classify_listings(todo) if todo else ([], [])
                    dead_letter(task_name, poison)
                    result = index_listings(ready + done, _store_for(settings))
                    dead_letter(INDEX, result.poison)
                    outcome.classified += len(done)
                    outcome.dead_lettered += len(poison) + len(result.poison)
                    outcome.written += result.written
                    outcome.unchanged += result.unchanged
                    outcome.latencies_s += [latency_since_crawl(item) for item in ready + done]
                    _notify_feeds_quietly(ready + done)
                    break
                except TransientError as exc:
                    if attempt + 1 == attempts:
                        dead_letter(
                            task_name,
                            [
                                Poison(
                                    item.model_dump(mode="json"),
                                    f"gave up after {attempts} attempts: {exc}"[:500],
                                    item.doc_id,
                                )
                                for item in batch
                            ],
                        )
                        outcome.dead_lettered += len(batch)
                    else:
                        log.warning("embedded pipeline: %s; retrying", exc)
                        time.sleep(
                            min(
                                settings.workers.retry_backoff_max_s, settings.workers.retry_backoff_base_s * 2**attempt
                            )
                        )
    return outcome


# --- the public entry points -----------------------------------------------------------------


def _notify_feeds_quietly(listings: list[Listing]) -> None:
    """Embedded mode builds notices right after indexing; a failure here is logged, never lost
    data: the hits are in the store and `dragnet feeds ingest` rebuilds notices from it."""

    try:
        notify_feeds(listings)
    except Exception:
        log.exception("building takedown notices failed; run 'dragnet feeds ingest' to rebuild them")


def submit_batch(listings: list[Listing]) -> None:
    """Hand crawled listings to the pipeline.

    Distributed (``redis.url`` set): buffered into classify batches and published; on return the
    full batches are in the broker and a partial one leaves within ``classify_max_wait_s``.
    Embedded: classified and indexed before this returns."""
    settings = get_settings()
    if not listings:
        return
    if settings.redis.url:
        payload = [_payload(item) for item in listings]
        _record(payload, settings)
        _batcher(settings).add(payload)
    else:
        process_in_process(list(listings), settings=settings)


def submit_raw(items: list[Any], *, stage: str = "classify", settings: DragnetSettings | None = None) -> None:
    """Publish raw items (dicts as they came off a broker or out of the DLQ) without batching:
    the workers screen them, so a malformed item ends in the DLQ with its reason."""
    settings = settings or get_settings()
    if stage not in {"classify", "index"}:
        raise ValueError(f"unknown stage {stage!r}")
    payload = [_payload(item) for item in items]
    if settings.redis.url:
        _record(payload, settings)
        for chunk in _chunks(payload, settings.workers.classify_batch_size):
            _publish(stage, chunk, settings)
    else:
        process_in_process(payload, stage=stage, settings=settings)


def replay(settings: DragnetSettings | None = None, ids: list[str] | None = None) -> int:
    """Send dead-lettered items through the pipeline again; each is removed from the DLQ once it
    is handed on (if it is still poison it comes back with a fresh reason)."""
    settings = settings or get_settings()
    dlq = open_dlq(settings)
    count = 0
    for entry, item in list(iter_items(dlq, ids)):
        stage = "index" if entry.task.endswith("index_batch") else "classify"
        # Removed first: in embedded mode the item is processed right here and, if it is still
        # poison, dead-lettered again under the same id.
        dlq.remove(entry.id, replayed_attempts=entry.attempts)
        try:
            submit_raw([item], stage=stage, settings=settings)
        except Exception:
            dlq.put(entry.task, Poison(item, entry.reason, entry.key))
            raise
        count += 1
    return count
