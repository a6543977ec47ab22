"""Celery tasks.  Queues come from ``settings.workers.routes`` (see :mod:`workers.app`).

``classify_batch`` -> ``index_batch`` is the listing path: a batch is screened (poison to the
dead-letter queue with its reason), classified in one engine call, handed to the index queue,
and written to the store, whose writes are idempotent by ``Listing.doc_id``.  A task whose
dependency is down (engine, store, broker) retries with exponential back-off and jitter; only
after ``workers.max_retries`` attempts do its items go to the dead-letter queue, from which
``dragnet dlq replay`` sends them again.  Nothing is acknowledged before it is done
(``acks_late``), so a killed worker's batch is delivered again and re-done harmlessly.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from typing import Any

from celery import Task, signals
from celery.exceptions import Reject, Retry

from crawlers.schedule import hand_out_due
from dragnet.documents import Listing
from dragnet.settings import get_settings
from index.factory import open_store
from index.store import StoreError
from lifespan.probes import probe_due_markets as probe_due
from lifespan.probes import probe_market as probe
from takedown.delivery import deliver_all, deliver_pending
from takedown.service import recheck_due
from workers.app import app
from workers.dlq import dead_letter
from workers.ledger import InflightLedger
from workers.metrics import metrics
from workers.pipeline import (
    Poison,
    TransientError,
    classify_listings,
    drug_sale_hits,
    index_listings,
    latency_since_crawl,
    screen,
)
from workers.pipeline import notify_feeds as notify

log = logging.getLogger(__name__)

CLASSIFY = "workers.tasks.classify_batch"
INDEX = "workers.tasks.index_batch"

# Publishing waits out a broker restart (~1.5 min) rather than failing the task.
PUBLISH_RETRY_POLICY = {"max_retries": 40, "interval_start": 0.2, "interval_step": 0.5, "interval_max": 2.0}
app.conf.task_publish_retry_policy = PUBLISH_RETRY_POLICY


def backoff_s(retries: int) -> float:
    """Exponential back-off with jitter: base * 2^n, capped, then 50-100 % of it, so that workers
    retrying together after an outage do not all hit the store at the same instant."""
    w = get_settings().workers
    ceiling = min(w.retry_backoff_max_s, w.retry_backoff_base_s * (2**retries))
    return ceiling / 2 + random.uniform(0, ceiling / 2)


class PipelineTask(Task):
    """At-least-once delivery: acknowledged after the work, redelivered if the worker dies."""

    acks_late = True
    reject_on_worker_lost = True
    ignore_result = True
    max_retries = None  # counted against settings.workers.max_retries in _retry_or_dead_letter


_store: Any = None


def _get_store() -> Any:
    """One store client per worker process (connection pooling), opened on first use."""
    global _store
    if _store is None:
        try:
            _store = open_store(get_settings())
        except StoreError as exc:
            if exc.retryable:
                raise TransientError(f"store unavailable: {exc}") from exc
            raise
        except (ConnectionError, OSError) as exc:
            raise TransientError(f"store unreachable: {exc!r}") from exc
    return _store


def _reset_store() -> None:
    global _store
    if _store is not None:
        try:
            _store.close()
        except Exception:  # noqa: BLE001 - a broken client is replaced either way
            pass
    _store = None


_ledger: InflightLedger | None = None


def _note(action: str, items: list[Any]) -> None:
    """Tell the in-flight ledger (:mod:`workers.ledger`) that items were touched or settled.
    Never fails the task: a missed touch or settle only means a harmless republish later."""
    global _ledger
    settings = get_settings()
    if not settings.redis.url or not items:
        return
    try:
        if _ledger is None:
            _ledger = InflightLedger(settings)
        _ledger.touch(items) if action == "touch" else _ledger.settle(items)
    except Exception as exc:  # noqa: BLE001 - see docstring
        log.warning("in-flight ledger %s of %d item(s) failed: %s", action, len(items), exc)


def _dead_letter_settled(task_name: str, poison: list[Poison]) -> None:
    dead_letter(task_name, poison)
    _note("settle", [item.item for item in poison])


def _retry_or_dead_letter(task: Task, items: list[Any], exc: Exception) -> None:
    limit = get_settings().workers.max_retries
    attempt = task.request.retries
    if attempt >= limit:
        log.error("%s gave up after %d attempts: %s", task.name, attempt + 1, exc)
        _dead_letter_settled(
            task.name, [Poison(item, f"gave up after {attempt + 1} attempts: {exc}"[:500]) for item in items]
        )
        metrics().tasks.labels(task.name, "dead_lettered").inc()
        return
    _note("touch", items)
    countdown = backoff_s(attempt)
    log.warning("%s attempt %d failed (%s); retrying in %.1fs", task.name, attempt + 1, exc, countdown)
    metrics().tasks.labels(task.name, "retry").inc()
    try:
        raise task.retry(args=[items], exc=exc, countdown=countdown)
    except Retry:
        raise
    except Exception as publish_error:
        raise Reject(f"cannot schedule retry: {publish_error!r}", requeue=True) from publish_error


def _run(task: Task, items: list[Any], body: Callable[[list[Any]], None]) -> None:
    """Common frame: metrics, retries for transient failures, requeue when even that fails."""
    started = time.perf_counter()
    metrics().batch_size.labels(task.name).observe(len(items))
    _note("touch", items)
    try:
        body(items)
        metrics().tasks.labels(task.name, "success").inc()
    except TransientError as exc:
        _retry_or_dead_letter(task, exc.items if exc.items is not None else items, exc)
    except (Retry, Reject):
        raise
    except Exception as exc:
        log.exception("%s failed unexpectedly", task.name)
        _retry_or_dead_letter(task, items, TransientError(repr(exc)))
    finally:
        metrics().task_seconds.labels(task.name).observe(time.perf_counter() - started)


# The pipeline tasks count themselves in _run (retry, dead-lettered); every other task is counted
# from Celery's signals, which fire in the pool process that ran it.
_SELF_COUNTED = (CLASSIFY, INDEX)
_started: dict[str, float] = {}


def _count(sender: Any, outcome: str) -> None:
    name = getattr(sender, "name", None)
    if isinstance(name, str) and name.startswith("workers.tasks.") and name not in _SELF_COUNTED:
        metrics().tasks.labels(name, outcome).inc()


@signals.task_prerun.connect
def _task_started(task_id: str | None = None, task: Any = None, **_: Any) -> None:
    if task_id and getattr(task, "name", None) not in _SELF_COUNTED:
        _started[task_id] = time.perf_counter()


@signals.task_postrun.connect
def _task_ended(task_id: str | None = None, task: Any = None, **_: Any) -> None:
    started = _started.pop(task_id or "", None)
    if started is not None and getattr(task, "name", "").startswith("workers.tasks."):
        metrics().task_seconds.labels(task.name).observe(time.perf_counter() - started)


@signals.task_success.connect
def _task_succeeded(sender: Any = None, **_: Any) -> None:
    _count(sender, "success")


@signals.task_retry.connect
def _task_retried(sender: Any = None, **_: Any) -> None:
    _count(sender, "retry")


@signals.task_failure.connect
def _task_failed(sender: Any = None, **_: Any) -> None:
    _count(sender, "failure")


def _publish(task: Task, payload: list[dict[str, Any]]) -> None:
    task.apply_async(args=[payload], retry=True, retry_policy=PUBLISH_RETRY_POLICY)


@app.task(bind=True, base=PipelineTask, name=CLASSIFY)
def classify_batch(self: Task, items: list[Any]) -> None:
    """Screen and classify a batch of raw listing dicts, then hand them to the index queue."""

    def body(batch: list[Any]) -> None:
        screened = screen(batch)
        _dead_letter_settled(CLASSIFY, screened.poison)
        try:
            classified, poison = classify_listings(screened.listings)
        except TransientError as exc:
            exc.items = [item.model_dump(mode="json") for item in screened.listings]
            raise
        _dead_letter_settled(CLASSIFY, poison)
        metrics().items.labels("classify_batch", "classified").inc(len(classified))
        if classified:
            _publish(index_batch, [item.model_dump(mode="json") for item in classified])

    _run(self, items, body)


@app.task(bind=True, base=PipelineTask, name=INDEX)
def index_batch(self: Task, items: list[Any]) -> None:
    """Write classified listings to the store (idempotent by doc_id)."""

    def body(batch: list[Any]) -> None:
        screened = screen(batch)
        _dead_letter_settled(INDEX, screened.poison)
        listings = [item for item in screened.listings if item.classification is not None]
        unclassified = [item for item in screened.listings if item.classification is None]
        if unclassified:  # a producer skipped the classify queue: classify here rather than store unknowns
            done, poison = classify_listings(unclassified)
            _dead_letter_settled(INDEX, poison)
            listings += done
        try:
            outcome = index_listings(listings, _get_store())
        except TransientError as exc:
            _reset_store()
            exc.items = [item.model_dump(mode="json") for item in listings]
            raise
        _dead_letter_settled(INDEX, outcome.poison)
        _note("settle", batch)  # written, unchanged or dead-lettered: every item is accounted for
        m = metrics()
        m.items.labels("index_batch", "written").inc(outcome.written)
        m.items.labels("index_batch", "unchanged").inc(outcome.unchanged)
        for item in listings:
            m.crawl_to_indexed.labels("index").observe(latency_since_crawl(item))
        hits = drug_sale_hits(listings)
        if hits:  # notices are built on the feeds queue, so a feeds outage never blocks indexing
            notify_feeds.apply_async(args=[[hit.model_dump(mode="json") for hit in hits]])

    _run(self, items, body)


@app.task(
    bind=True,
    acks_late=True,
    reject_on_worker_lost=True,
    ignore_result=True,
    name="workers.tasks.deliver_feed",
    autoretry_for=(ConnectionError, OSError),
    retry_backoff=True,
    retry_backoff_max=600,
    max_retries=10,
)
def deliver_feed(self: Task, platform: str) -> int:
    """Deliver the pending takedown notices of one platform (the feeds part does the work)."""

    return int(deliver_pending(platform))


@app.task(
    bind=True,
    acks_late=True,
    reject_on_worker_lost=True,
    ignore_result=True,
    name="workers.tasks.notify_feeds",
    autoretry_for=(ConnectionError, OSError),
    retry_backoff=True,
    retry_backoff_max=600,
    max_retries=10,
)
def notify_feeds(self: Task, items: list[dict[str, Any]]) -> int:
    """Build takedown notices for indexed hits (idempotent: the feeds part deduplicates)."""

    return notify([Listing.model_validate(item) for item in items])


@app.task(acks_late=True, ignore_result=True, name="workers.tasks.deliver_all_feeds")
def deliver_all_feeds() -> dict[str, int]:
    """Beat entry: push every platform's pending notices to its webhook."""

    return deliver_all()


@app.task(acks_late=True, ignore_result=True, name="workers.tasks.recheck_removals")
def recheck_removals() -> int:
    """Beat entry: re-crawl sent notices whose re-check is due (a vanished post confirms removal)."""

    return recheck_due()


@app.task(
    bind=True,
    acks_late=True,
    reject_on_worker_lost=True,
    ignore_result=True,
    name="workers.tasks.probe_market",
    autoretry_for=(ConnectionError,),
    retry_backoff=True,
    max_retries=3,
)
def probe_market(self: Task, market_id: str) -> Any:
    """Probe one market's reachability now (the lifespan part records the result)."""

    result = probe(market_id)
    dump = getattr(result, "model_dump", None)
    return dump(mode="json") if callable(dump) else result


@app.task(acks_late=True, ignore_result=True, name="workers.tasks.schedule_crawls")
def schedule_crawls() -> int:
    """Beat: hand every site whose crawl round is due to the crawler replicas (crawlers.schedule);
    idempotent per interval, so a duplicated beat message hands nothing out twice."""
    handed = hand_out_due(get_settings())
    if handed:
        log.info("crawl rounds handed out: %s", ", ".join(handed))
    return len(handed)


@app.task(acks_late=True, ignore_result=True, name="workers.tasks.probe_due_markets")
def probe_due_markets() -> int:
    """Beat entry: probe every market whose next probe time has come (back-off lives there)."""

    return int(probe_due())
