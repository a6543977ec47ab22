"""The in-flight ledger: every listing handed to the distributed pipeline is written here before
it is published and crossed off once it is indexed or dead-lettered; what neither the broker nor
a worker still holds is published again.

Why: Celery's Redis transport is at-least-once only while the broker stays up.  Between the
``BRPOP`` that takes a message off a queue and the write that files it as unacknowledged there
is a window in which a broker killed at that instant loses the message outright (the pop is
durable, the filing never happens), and a crawler process that dies with a partial batch in its
buffer loses that batch too.  The ledger closes both end to end: it is keyed by the listing's
``doc_id`` (one version of one listing), so republishing is harmless (indexing is idempotent
by ``doc_id``), and an entry is *stale* only when no task has touched it for longer than Redis
itself would wait before redelivering (``visibility_timeout_s``) plus the longest retry
countdown, and the pipeline's queues are empty (so a long backlog is never mistaken for loss).

Keys (in the broker's Redis database): ``<inflight_key>:items`` (hash doc_id -> payload JSON)
and ``<inflight_key>:touched`` (sorted set doc_id -> last time a producer or task handled it).
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from collections.abc import Iterable
from typing import Any

import redis
from celery import signals
from redis.backoff import ExponentialBackoff
from redis.retry import Retry

from dragnet.settings import DragnetSettings, get_settings
from workers.app import app

log = logging.getLogger(__name__)

# The pipeline's own queues: a message waiting in one of them is not lost, however old.
PIPELINE_TASKS = ("workers.tasks.classify_batch", "workers.tasks.index_batch")
# kombu's Redis transport keeps a queue's priority levels in lists named "<queue>\x06\x16<n>"
_PRIORITY_SEP = "\x06\x16"


def ledger_key(item: Any) -> str | None:
    """The doc_id of a payload (a listing dump), or None for an item that has none (malformed
    input: the workers dead-letter it, so there is nothing to track)."""
    if isinstance(item, dict):
        listing_id, digest = item.get("id"), item.get("content_sha256")
        if isinstance(listing_id, str) and listing_id and isinstance(digest, str) and digest:
            return f"{listing_id}:{digest[:16]}"
    return None


def _keys(items: Iterable[Any]) -> list[str]:
    return list(dict.fromkeys(key for key in map(ledger_key, items) if key))


def stale_after_s(settings: DragnetSettings) -> float:
    """How long an untouched entry waits before it counts as lost: longer than Redis waits to
    redeliver an unacknowledged message, plus a retry countdown, plus a margin."""
    w = settings.workers
    return w.visibility_timeout_s + w.retry_backoff_max_s + max(2.0, w.visibility_timeout_s / 10)


class InflightLedger:
    """One Redis client; every operation is a single pipelined round trip."""

    def __init__(self, settings: DragnetSettings, client: redis.Redis | None = None) -> None:
        if not settings.redis.url:
            raise ValueError("the in-flight ledger needs redis.url (embedded mode has no broker to lose messages)")
        self.settings = settings
        self.client = client or redis.Redis.from_url(
            str(settings.redis.url),
            # a restarting broker is waited for (~1 min), like publishing is
            retry=Retry(ExponentialBackoff(cap=2.0, base=0.2), 40),
            retry_on_error=[redis.ConnectionError, redis.TimeoutError],
            socket_timeout=10,
        )
        prefix = settings.workers.inflight_key
        self.items_key = f"{prefix}:items"
        self.touched_key = f"{prefix}:touched"

    def record(self, payloads: list[Any]) -> int:
        """File payloads before they are published (raises if the broker stays unreachable, as
        publishing would)."""
        entries: dict[Any, Any] = {}
        for item in payloads:
            key = ledger_key(item)
            if key:
                entries[key] = json.dumps(item, separators=(",", ":"))
        if not entries:
            return 0
        now = time.time()
        pipe = self.client.pipeline(transaction=False)
        pipe.hset(self.items_key, mapping=entries)
        pipe.zadd(self.touched_key, dict.fromkeys(entries, now))
        pipe.execute()
        return len(entries)

    def touch(self, items: Iterable[Any]) -> None:
        """A task holds these items now (started, or scheduled a retry): restart their clocks.
        Only entries still in the ledger are touched (``XX``)."""
        keys = _keys(items)
        if keys:
            self.client.zadd(self.touched_key, dict.fromkeys(keys, time.time()), xx=True)

    def settle(self, items: Iterable[Any]) -> None:
        """These items reached the store or the dead-letter queue: nothing more to watch."""
        keys = _keys(items)
        if keys:
            pipe = self.client.pipeline(transaction=False)
            pipe.hdel(self.items_key, *keys)
            pipe.zrem(self.touched_key, *keys)
            pipe.execute()

    def size(self) -> int:
        return int(self.client.zcard(self.touched_key))

    def _queues_busy(self) -> bool:
        names = {self.settings.workers.routes.get(task, task.rsplit("_", 1)[0]) for task in PIPELINE_TASKS}
        keys = [name for queue in names for name in (queue, *(f"{queue}{_PRIORITY_SEP}{n}" for n in range(10)))]
        pipe = self.client.pipeline(transaction=False)
        for key in keys:
            pipe.llen(key)
        return any(pipe.execute())

    def take_stale(self, limit: int = 1000) -> list[Any]:
        """Payloads nobody has touched for :func:`stale_after_s`, provided the pipeline's queues
        are empty; their clocks restart, so each is handed out once per period."""
        cutoff = time.time() - stale_after_s(self.settings)
        found: list[Any] = self.client.zrangebyscore(self.touched_key, 0, cutoff, 0, limit)
        keys: list[str] = [key.decode() if isinstance(key, bytes) else str(key) for key in found]
        if not keys or self._queues_busy():
            return []
        raw = self.client.hmget(self.items_key, keys)
        payloads, missing = [], []
        for key, value in zip(keys, raw, strict=True):
            if value is None:
                missing.append(key)  # settled in between
            else:
                payloads.append(json.loads(value))
        if missing:
            self.client.zrem(self.touched_key, *missing)
        self.touch(payloads)
        return payloads

    def close(self) -> None:
        self.client.close()


class LedgerSweeper(threading.Thread):
    """Runs in each worker's main process: every quarter of the stale period, one sweeper (a
    Redis lock decides which) republishes what the ledger shows as lost."""

    def __init__(self, settings: DragnetSettings, name: str) -> None:
        super().__init__(name="dragnet-ledger-sweeper", daemon=True)
        self.settings = settings
        self.ledger = InflightLedger(settings)
        self.interval_s = max(1.0, stale_after_s(settings) / 4)
        self.owner = name
        self._stop_event = threading.Event()

    def sweep_once(self) -> int:
        lock = f"{self.ledger.items_key}:sweeper"
        if not self.ledger.client.set(lock, self.owner, nx=True, ex=max(1, int(self.interval_s))):
            return 0
        payloads = self.ledger.take_stale()
        if payloads:
            log.warning("in-flight ledger: %d listing(s) neither queued nor held; publishing them again", len(payloads))
            self.republish(payloads)
        return len(payloads)

    def republish(self, payloads: list[Any]) -> None:
        """Classified payloads go to the index queue, the others to the classify queue."""
        size = self.settings.workers.classify_batch_size
        for task in PIPELINE_TASKS:
            chosen = [p for p in payloads if bool(p.get("classification")) == task.endswith("index_batch")]
            for start in range(0, len(chosen), size):
                app.send_task(task, args=[chosen[start : start + size]], retry=True)

    def run(self) -> None:
        while not self._stop_event.wait(self.interval_s):
            try:
                self.sweep_once()
            except Exception as exc:  # noqa: BLE001 - the broker may be restarting: try next period
                log.warning("in-flight ledger sweep failed (%s); trying again in %.0fs", exc, self.interval_s)

    def stop(self) -> None:
        self._stop_event.set()
        self.ledger.close()


_sweeper: LedgerSweeper | None = None


@signals.worker_ready.connect
def _start_sweeper(sender: Any = None, **_: Any) -> None:
    global _sweeper
    settings = get_settings()
    if settings.redis.url and _sweeper is None:
        _sweeper = LedgerSweeper(settings, getattr(sender, "hostname", None) or str(os.getpid()))
        _sweeper.start()


@signals.worker_shutdown.connect
def _stop_sweeper(**_: Any) -> None:
    global _sweeper
    if _sweeper is not None:
        _sweeper.stop()
        _sweeper = None
