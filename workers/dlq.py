"""The dead-letter queue: items that can never succeed as they are (poison), kept with the reason,
inspectable (``dragnet dlq list``) and replayable (``dragnet dlq replay``) once the cause is fixed.

With a broker configured the queue lives in Redis next to the Celery queues (a hash of small
entries for listing, the full item under its own key); in embedded mode it is a SQLite file in
the data directory.  Entry ids are content hashes, so a task that dead-letters the same item twice
(a redelivered message) leaves one entry.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import threading
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Protocol

import redis
from redis.backoff import ExponentialBackoff
from redis.retry import Retry

from dragnet import sqlite
from dragnet.settings import DragnetSettings, get_settings
from workers.metrics import metrics
from workers.pipeline import Poison, item_preview

log = logging.getLogger(__name__)


def _encode(value: Any) -> Any:
    if isinstance(value, (bytes, bytearray)):
        return {"__bytes_b64__": base64.b64encode(bytes(value)).decode("ascii")}
    raise TypeError(f"cannot store {type(value).__name__} in the DLQ")


def _decode(obj: dict[str, Any]) -> Any:
    if set(obj) == {"__bytes_b64__"}:
        return base64.b64decode(obj["__bytes_b64__"])
    return obj


def dumps(item: Any) -> str:
    """JSON that keeps what a poison item really was (lone surrogates stay escaped, bytes survive)."""
    return json.dumps(item, ensure_ascii=True, default=_encode, sort_keys=True)


def loads(raw: str | bytes) -> Any:
    return json.loads(raw, object_hook=_decode)


@dataclass
class DeadLetter:
    id: str
    task: str
    reason: str
    failed_at: float
    key: str | None
    size: int
    preview: str
    attempts: int = 1


class DeadLetterQueue(Protocol):
    def put(self, task: str, poison: Poison) -> DeadLetter: ...
    def list(self, limit: int | None = None) -> list[DeadLetter]: ...
    def item(self, entry_id: str) -> Any: ...
    def remove(self, entry_id: str, replayed_attempts: int | None = None) -> None: ...
    def size(self) -> int: ...


def _entry(task: str, poison: Poison, raw: str) -> DeadLetter:
    digest = hashlib.sha256(f"{task}\0{raw}".encode("ascii")).hexdigest()[:24]
    return DeadLetter(
        id=digest,
        task=task,
        reason=poison.reason,
        failed_at=time.time(),
        key=poison.key,
        size=len(raw),
        preview=item_preview(poison.item),
    )


class RedisDeadLetterQueue:
    """DLQ in the broker's Redis: ``<key>`` hash (id -> entry), ``<key>:item:<id>`` the item."""

    def __init__(self, url: str, key: str = "dragnet:dlq") -> None:
        self.key = key
        # The broker may be restarting when a worker dead-letters an item: retry for ~1 minute.
        self.client = redis.Redis.from_url(
            url,
            socket_timeout=10,
            socket_connect_timeout=5,
            retry=Retry(ExponentialBackoff(cap=4.0, base=0.2), 20),
            retry_on_error=[redis.ConnectionError, redis.TimeoutError],
        )

    def put(self, task: str, poison: Poison) -> DeadLetter:
        raw = dumps(poison.item)
        entry = _entry(task, poison, raw)
        previous = self.client.hget(self.key, entry.id)
        if previous:
            entry.attempts = json.loads(previous).get("attempts", 1) + 1
        else:
            replayed = self.client.hget(f"{self.key}:replayed", entry.id)
            if replayed:
                entry.attempts = int(replayed) + 1
        pipe = self.client.pipeline(transaction=True)
        pipe.set(f"{self.key}:item:{entry.id}", raw)
        pipe.hset(self.key, entry.id, json.dumps(asdict(entry)))
        pipe.execute()
        return entry

    def list(self, limit: int | None = None) -> list[DeadLetter]:
        entries = [DeadLetter(**json.loads(v)) for v in self.client.hvals(self.key)]
        entries.sort(key=lambda e: e.failed_at)
        return entries[:limit] if limit else entries

    def item(self, entry_id: str) -> Any:
        raw = self.client.get(f"{self.key}:item:{entry_id}")
        if raw is None:
            raise KeyError(entry_id)
        return loads(raw)

    def remove(self, entry_id: str, replayed_attempts: int | None = None) -> None:
        pipe = self.client.pipeline(transaction=True)
        pipe.hdel(self.key, entry_id)
        pipe.delete(f"{self.key}:item:{entry_id}")
        if replayed_attempts is not None:  # remembered, so a replayed item that fails again counts on
            pipe.hset(f"{self.key}:replayed", entry_id, replayed_attempts)
        pipe.execute()

    def size(self) -> int:
        return int(self.client.hlen(self.key))

    def clear(self) -> None:
        for entry in self.list():
            self.remove(entry.id)
        self.client.delete(f"{self.key}:replayed")


_SQLITE_SCHEMA = """
CREATE TABLE IF NOT EXISTS dead_letters (id TEXT PRIMARY KEY, task TEXT, reason TEXT, failed_at REAL,
    key TEXT, size INTEGER, preview TEXT, attempts INTEGER, item TEXT);
CREATE TABLE IF NOT EXISTS replayed (id TEXT PRIMARY KEY, attempts INTEGER);
"""


class SqliteDeadLetterQueue:
    """DLQ of the embedded mode: one SQLite file in the data directory."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._lock = threading.Lock()
        self._db = sqlite.connect(path, autocommit=True)
        sqlite.migrate(self._db, [_SQLITE_SCHEMA])

    def put(self, task: str, poison: Poison) -> DeadLetter:
        raw = dumps(poison.item)
        entry = _entry(task, poison, raw)
        with self._lock:
            row = (
                self._db.execute("SELECT attempts FROM dead_letters WHERE id=?", (entry.id,)).fetchone()
                or self._db.execute("SELECT attempts FROM replayed WHERE id=?", (entry.id,)).fetchone()
            )
            if row:
                entry.attempts = int(row[0]) + 1
            self._db.execute(
                "INSERT OR REPLACE INTO dead_letters VALUES (?,?,?,?,?,?,?,?,?)",
                (
                    entry.id,
                    entry.task,
                    entry.reason,
                    entry.failed_at,
                    entry.key,
                    entry.size,
                    entry.preview,
                    entry.attempts,
                    raw,
                ),
            )
        return entry

    def list(self, limit: int | None = None) -> list[DeadLetter]:
        with self._lock:
            rows = self._db.execute(
                "SELECT id, task, reason, failed_at, key, size, preview, attempts FROM dead_letters"
                " ORDER BY failed_at LIMIT ?",
                (limit or -1,),
            ).fetchall()
        return [
            DeadLetter(
                id=r[0], task=r[1], reason=r[2], failed_at=r[3], key=r[4], size=r[5], preview=r[6], attempts=r[7]
            )
            for r in rows
        ]

    def item(self, entry_id: str) -> Any:
        with self._lock:
            row = self._db.execute("SELECT item FROM dead_letters WHERE id=?", (entry_id,)).fetchone()
        if row is None:
            raise KeyError(entry_id)
        return loads(row[0])

    def remove(self, entry_id: str, replayed_attempts: int | None = None) -> None:
        with self._lock:
            self._db.execute("DELETE FROM dead_letters WHERE id=?", (entry_id,))
            if replayed_attempts is not None:
                self._db.execute("INSERT OR REPLACE INTO replayed VALUES (?, ?)", (entry_id, replayed_attempts))

    def size(self) -> int:
        with self._lock:
            return int(self._db.execute("SELECT COUNT(*) FROM dead_letters").fetchone()[0])

    def clear(self) -> None:
        with self._lock:
            self._db.execute("DELETE FROM dead_letters")
            self._db.execute("DELETE FROM replayed")


_cache: dict[str, DeadLetterQueue] = {}
_cache_lock = threading.Lock()


def open_dlq(settings: DragnetSettings | None = None) -> DeadLetterQueue:
    """The DLQ for these settings: Redis when a broker is configured, SQLite otherwise."""
    settings = settings or get_settings()
    if settings.redis.url:
        where = f"redis:{settings.redis.url}:{settings.workers.dlq_key}"
    else:
        where = f"sqlite:{settings.paths.data_dir / 'dlq.sqlite3'}"
    with _cache_lock:
        dlq = _cache.get(where)
        if dlq is None:
            if settings.redis.url:
                dlq = RedisDeadLetterQueue(settings.redis.url, settings.workers.dlq_key)
            else:
                dlq = SqliteDeadLetterQueue(settings.paths.data_dir / "dlq.sqlite3")
            _cache[where] = dlq
        return dlq


def iter_items(dlq: DeadLetterQueue, ids: list[str] | None = None) -> Iterator[tuple[DeadLetter, Any]]:
    wanted = set(ids or [])
    for entry in dlq.list():
        if wanted and entry.id not in wanted:
            continue
        try:
            yield entry, dlq.item(entry.id)
        except KeyError:
            continue


def dead_letter(task: str, poison: list[Poison]) -> None:
    """Put poison items in the DLQ (idempotent per item), count and log them (reason only: the
    item is hostile scraped content)."""
    if not poison:
        return
    dlq = open_dlq()
    for item in poison:
        entry = dlq.put(task, item)
        log.warning("dead-lettered %s from %s: %s", entry.id, task, entry.reason)
    metrics().dead_letters.labels(task).inc(len(poison))
    metrics().items.labels(task.rsplit(".", 1)[-1], "dead_lettered").inc(len(poison))
