"""Where notices, their feed sequence, webhook subscriptions and the delivery log live.

:class:`NoticeStore` is the small contract; :class:`SqliteNoticeStore` keeps it in one SQLite file
under the data directory (``feeds.sqlite3``), so that an engine-backed store can replace it later
without touching the workflow.  Every write that a platform should see takes the next value of a
single sequence inside the write transaction; SQLite has one writer at a time, so sequence order
is commit order and a reader that walks ``seq > cursor`` never skips a row committed later with a
smaller number.
"""

from __future__ import annotations

import abc
import builtins
import json
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from pydantic import BaseModel

from dragnet import sqlite
from dragnet.secretbox import seal, unseal
from dragnet.settings import DragnetSettings, get_settings
from takedown.notices import Notice


class ConflictError(RuntimeError):
    """The notice changed since it was read (another analyst, the platform or a worker got there
    first); read it again and retry."""


class FeedRow(BaseModel):
    seq: int
    notice: Notice


class WebhookSubscription(BaseModel):
    platform: str
    url: str
    secret: str
    delivered_seq: int = 0
    failures: int = 0
    next_attempt_at: datetime | None = None
    # after a rotation: the old secret keeps signing (beside the new one) until this time
    previous_secret: str | None = None
    previous_secret_until: datetime | None = None

    def signing_secrets(self, now: datetime) -> list[str]:
        """The secrets a delivery made at ``now`` is signed with: the current one first, then the
        previous one while its overlap window lasts."""
        keep = self.previous_secret and self.previous_secret_until and self.previous_secret_until > now
        return [self.secret] + ([self.previous_secret] if keep and self.previous_secret else [])


class DeliveryRecord(BaseModel):
    id: int
    platform: str
    notice_id: str
    version: int
    channel: str
    idempotency_key: str
    attempt: int
    status_code: int | None
    ok: bool
    error: str | None
    at: datetime


def _ts(value: datetime | None) -> str | None:
    return value.astimezone(UTC).isoformat() if value else None


def _dt(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


class NoticeStore(abc.ABC):
    """The storage contract the feed workflow depends on."""

    @abc.abstractmethod
    def get(self, notice_id: str) -> Notice | None: ...

    @abc.abstractmethod
    def save(
        self, notice: Notice, *, bump: bool = True, visible: bool | None = None, expect_version: int | None = None
    ) -> int:
        """Write a notice; ``bump`` gives it the next feed sequence (platforms will see the change),
        ``visible`` marks it as released to its platform (set once, on approval),
        ``expect_version`` refuses the write (:class:`ConflictError`) when the stored notice is no
        longer the version the caller read.  Returns its seq."""

    @abc.abstractmethod
    def feed(self, platform: str, since: int, limit: int) -> list[FeedRow]:
        """Released notices of one platform with ``seq > since``, in sequence order."""

    @abc.abstractmethod
    def list(
        self, platform: str | None = None, status: str | None = None, limit: int = 100, offset: int = 0
    ) -> list[Notice]: ...

    @abc.abstractmethod
    def all(self, platform: str | None = None) -> Iterator[Notice]: ...

    @abc.abstractmethod
    def count_sent_since(self, platform: str, since: datetime) -> int: ...

    @abc.abstractmethod
    def set_webhook(self, sub: WebhookSubscription) -> None: ...

    @abc.abstractmethod
    def get_webhook(self, platform: str) -> WebhookSubscription | None: ...

    @abc.abstractmethod
    def log_delivery(
        self,
        platform: str,
        notice_id: str,
        version: int,
        channel: str,
        key: str,
        attempt: int,
        status_code: int | None,
        ok: bool,
        error: str | None,
    ) -> None: ...

    @abc.abstractmethod
    def deliveries(self, platform: str, limit: int = 100) -> builtins.list[DeliveryRecord]: ...

    @abc.abstractmethod
    def max_seq(self) -> int: ...

    @abc.abstractmethod
    def cursor_at(self, platform: str, when: datetime) -> int:
        """A cursor from which the feed holds every notice modified at or after ``when`` (a first
        sync by date; afterwards clients follow ``next_cursor``)."""

    @abc.abstractmethod
    def record_recheck(self, notice_id: str, outcome: str, reason: str) -> None:
        """Remember when a notice's post was last re-crawled and what was found."""

    @abc.abstractmethod
    def last_rechecks(self) -> dict[str, float]:
        """Notice id -> UNIX time of its last re-crawl."""

    @abc.abstractmethod
    def acquire_lease(self, name: str, holder: str, seconds: float) -> bool:
        """Take a named lease (one deliverer per platform across worker processes); ``False`` when
        another holder's lease has not yet run out."""

    @abc.abstractmethod
    def release_lease(self, name: str, holder: str) -> None: ...


SCHEMA = """
CREATE TABLE IF NOT EXISTS notices (
    id TEXT PRIMARY KEY,
    platform TEXT NOT NULL,
    seq INTEGER NOT NULL,
    status TEXT NOT NULL,
    visible INTEGER NOT NULL DEFAULT 0,
    should_delete INTEGER NOT NULL DEFAULT 0,
    sent_at TEXT,
    removed_at TEXT,
    feedback TEXT,
    created TEXT NOT NULL,
    modified TEXT NOT NULL,
    doc TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS notices_feed ON notices(platform, visible, seq);
CREATE INDEX IF NOT EXISTS notices_status ON notices(platform, status);
CREATE INDEX IF NOT EXISTS notices_sent ON notices(platform, sent_at);
CREATE TABLE IF NOT EXISTS sequence (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
INSERT OR IGNORE INTO sequence(name, value) VALUES ('feed', 0);
CREATE TABLE IF NOT EXISTS webhooks (
    platform TEXT PRIMARY KEY,
    url TEXT NOT NULL,
    secret TEXT NOT NULL,
    delivered_seq INTEGER NOT NULL DEFAULT 0,
    failures INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TEXT
);
CREATE TABLE IF NOT EXISTS deliveries (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    platform TEXT NOT NULL,
    notice_id TEXT NOT NULL,
    version INTEGER NOT NULL,
    channel TEXT NOT NULL,
    idempotency_key TEXT NOT NULL,
    attempt INTEGER NOT NULL,
    status_code INTEGER,
    ok INTEGER NOT NULL,
    error TEXT,
    at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS deliveries_platform ON deliveries(platform, id);
CREATE TABLE IF NOT EXISTS rechecks (notice_id TEXT PRIMARY KEY, checked_at REAL NOT NULL, outcome TEXT NOT NULL,
    reason TEXT);
CREATE TABLE IF NOT EXISTS leases (name TEXT PRIMARY KEY, holder TEXT NOT NULL, until REAL NOT NULL);
"""
# step 2: webhook secret rotation (the old secret, sealed, and the end of its overlap window)
WEBHOOK_ROTATION = """
ALTER TABLE webhooks ADD COLUMN previous_secret TEXT;
ALTER TABLE webhooks ADD COLUMN previous_secret_until TEXT;
"""


class SqliteNoticeStore(NoticeStore):
    """One SQLite file; a connection per operation so that API threads never share one."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._conns_lock = threading.Lock()
        self._local = threading.local()
        self._all_conns: list[sqlite3.Connection] = []
        with self._conn() as conn:
            sqlite.migrate(conn, [SCHEMA, WEBHOOK_ROTATION])

    @contextmanager
    def _conn(self) -> Iterator[sqlite3.Connection]:
        """This thread's connection, opened once: closing the last connection of a WAL database
        checkpoints it, which made a connection per operation cost milliseconds."""
        conn = getattr(self._local, "conn", None)
        if conn is None:
            # WAL + NORMAL: a crash never corrupts the file; a power cut may lose the last commits,
            # which the workflow redoes (deliveries are idempotent, re-crawls repeat).
            conn = sqlite.connect(self.path, autocommit=True, row_factory=True, check_same_thread=True)
            self._local.conn = conn
            with self._conns_lock:
                self._all_conns.append(conn)
        yield conn

    def close(self) -> None:
        """Close every connection this store opened (call once, when no thread uses it)."""
        with self._conns_lock:
            conns, self._all_conns = self._all_conns, []
        for conn in conns:
            try:
                conn.close()
            except sqlite3.ProgrammingError:  # opened by another thread: closed at its exit
                pass
        self._local = threading.local()

    def get(self, notice_id: str) -> Notice | None:
        with self._conn() as conn:
            row = conn.execute("SELECT doc FROM notices WHERE id = ?", (notice_id,)).fetchone()
        return Notice.model_validate_json(row["doc"]) if row else None

    def save(
        self, notice: Notice, *, bump: bool = True, visible: bool | None = None, expect_version: int | None = None
    ) -> int:
        doc = notice.model_dump_json()
        sent_at = notice.time_of("sent")
        removed_at = notice.time_of("removed")
        with self._lock, self._conn() as conn:
            conn.execute("BEGIN IMMEDIATE")
            try:
                current = conn.execute(
                    "SELECT seq, visible, json_extract(doc, '$.version') AS version FROM notices WHERE id = ?",
                    (notice.id,),
                ).fetchone()
                if expect_version is not None and (current is None or current["version"] != expect_version):
                    raise ConflictError(f"notice {notice.id} changed since it was read")
                if bump or current is None:
                    seq = conn.execute(
                        "UPDATE sequence SET value = value + 1 WHERE name = 'feed' RETURNING value"
                    ).fetchone()[0]
                else:
                    seq = current["seq"]
                vis = int(bool(visible)) if visible is not None else (current["visible"] if current else 0)
                if current is not None and current["visible"]:
                    vis = 1  # once released, a notice stays in the feed (withdrawal is a tombstone)
                conn.execute(
                    "INSERT INTO notices(id, platform, seq, status, visible, should_delete, sent_at, removed_at,"
                    " feedback, created, modified, doc) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)"
                    " ON CONFLICT(id) DO UPDATE SET seq=excluded.seq, status=excluded.status,"
                    " visible=excluded.visible, should_delete=excluded.should_delete, sent_at=excluded.sent_at,"
                    " removed_at=excluded.removed_at, feedback=excluded.feedback, modified=excluded.modified,"
                    " doc=excluded.doc",
                    (
                        notice.id,
                        notice.platform,
                        seq,
                        notice.status,
                        vis,
                        int(notice.should_delete),
                        _ts(sent_at),
                        _ts(removed_at),
                        notice.feedback,
                        _ts(notice.created),
                        _ts(notice.modified),
                        doc,
                    ),
                )
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
        return int(seq)

    def feed(self, platform: str, since: int, limit: int) -> list[FeedRow]:
        with self._conn() as conn:
            rows = conn.execute(
                "SELECT seq, doc FROM notices WHERE platform = ? AND visible = 1 AND status != 'new' AND seq > ?"
                " ORDER BY seq LIMIT ?",
                (platform, since, limit),
            ).fetchall()
        return [FeedRow(seq=r["seq"], notice=Notice.model_validate_json(r["doc"])) for r in rows]

    def list(
        self, platform: str | None = None, status: str | None = None, limit: int = 100, offset: int = 0
    ) -> list[Notice]:
        sql, args = "SELECT doc FROM notices WHERE 1=1", list[str | int]()
        if platform:
            sql += " AND platform = ?"
            args.append(platform)
        if status:
            sql += " AND status = ?"
            args.append(status)
        sql += " ORDER BY modified DESC, id LIMIT ? OFFSET ?"
        args += [limit, offset]
        with self._conn() as conn:
            rows = conn.execute(sql, args).fetchall()
        return [Notice.model_validate_json(r["doc"]) for r in rows]

    def all(self, platform: str | None = None) -> Iterator[Notice]:
        with self._conn() as conn:
            if platform:
                cursor = conn.execute("SELECT doc FROM notices WHERE platform = ? ORDER BY seq", (platform,))
            else:
                cursor = conn.execute("SELECT doc FROM notices ORDER BY seq")
            for row in cursor:
                yield Notice.model_validate_json(row["doc"])

    def count_sent_since(self, platform: str, since: datetime) -> int:
        with self._conn() as conn:
            return int(
                conn.execute(
                    "SELECT COUNT(*) FROM notices WHERE platform = ? AND sent_at >= ?", (platform, _ts(since))
                ).fetchone()[0]
            )

    def set_webhook(self, sub: WebhookSubscription) -> None:
        with self._lock, self._conn() as conn:
            conn.execute(
                "INSERT INTO webhooks(platform, url, secret, delivered_seq, failures, next_attempt_at,"
                " previous_secret, previous_secret_until) VALUES (?,?,?,?,?,?,?,?) ON CONFLICT(platform) DO UPDATE"
                " SET url=excluded.url, secret=excluded.secret, delivered_seq=excluded.delivered_seq,"
                " failures=excluded.failures, next_attempt_at=excluded.next_attempt_at,"
                " previous_secret=excluded.previous_secret, previous_secret_until=excluded.previous_secret_until",
                (
                    sub.platform,
                    sub.url,
                    seal(sub.secret),
                    sub.delivered_seq,
                    sub.failures,
                    _ts(sub.next_attempt_at),
                    seal(sub.previous_secret) if sub.previous_secret else None,
                    _ts(sub.previous_secret_until),
                ),
            )

    def get_webhook(self, platform: str) -> WebhookSubscription | None:
        with self._conn() as conn:
            row = conn.execute("SELECT * FROM webhooks WHERE platform = ?", (platform,)).fetchone()
        if row is None:
            return None
        return WebhookSubscription(
            platform=row["platform"],
            url=row["url"],
            secret=unseal(row["secret"]),
            delivered_seq=row["delivered_seq"],
            failures=row["failures"],
            next_attempt_at=_dt(row["next_attempt_at"]),
            previous_secret=unseal(row["previous_secret"]) if row["previous_secret"] else None,
            previous_secret_until=_dt(row["previous_secret_until"]),
        )

    def log_delivery(
        self,
        platform: str,
        notice_id: str,
        version: int,
        channel: str,
        key: str,
        attempt: int,
        status_code: int | None,
        ok: bool,
        error: str | None,
    ) -> None:
        with self._lock, self._conn() as conn:
            conn.execute(
                "INSERT INTO deliveries(platform, notice_id, version, channel, idempotency_key, attempt,"
                " status_code, ok, error, at) VALUES (?,?,?,?,?,?,?,?,?,?)",
                (
                    platform,
                    notice_id,
                    version,
                    channel,
                    key,
                    attempt,
                    status_code,
                    int(ok),
                    (error or None) and error[:500],
                    _ts(datetime.now(UTC)),
                ),
            )

    def deliveries(self, platform: str, limit: int = 100) -> builtins.list[DeliveryRecord]:
        with self._conn() as conn:
            rows = conn.execute(
                "SELECT * FROM deliveries WHERE platform = ? ORDER BY id DESC LIMIT ?", (platform, limit)
            ).fetchall()
        return [
            DeliveryRecord(
                id=r["id"],
                platform=r["platform"],
                notice_id=r["notice_id"],
                version=r["version"],
                channel=r["channel"],
                idempotency_key=r["idempotency_key"],
                attempt=r["attempt"],
                status_code=r["status_code"],
                ok=bool(r["ok"]),
                error=r["error"],
                at=datetime.fromisoformat(r["at"]),
            )
            for r in rows
        ]

    def max_seq(self) -> int:
        with self._conn() as conn:
            return int(conn.execute("SELECT value FROM sequence WHERE name = 'feed'").fetchone()[0])

    def cursor_at(self, platform: str, when: datetime) -> int:
        with self._conn() as conn:
            row = conn.execute(
                "SELECT MIN(seq) FROM notices WHERE platform = ? AND visible = 1 AND modified >= ?",
                (platform, _ts(when)),
            ).fetchone()
        return max(0, int(row[0]) - 1) if row and row[0] is not None else self.max_seq()

    def record_recheck(self, notice_id: str, outcome: str, reason: str) -> None:
        with self._lock, self._conn() as conn:
            conn.execute(
                "INSERT INTO rechecks(notice_id, checked_at, outcome, reason) VALUES (?,?,?,?)"
                " ON CONFLICT(notice_id) DO UPDATE SET checked_at=excluded.checked_at,"
                " outcome=excluded.outcome, reason=excluded.reason",
                (notice_id, time.time(), outcome, reason[:300]),
            )

    def last_rechecks(self) -> dict[str, float]:
        with self._conn() as conn:
            return {r[0]: float(r[1]) for r in conn.execute("SELECT notice_id, checked_at FROM rechecks")}

    def acquire_lease(self, name: str, holder: str, seconds: float) -> bool:
        now = time.time()
        with self._lock, self._conn() as conn:
            conn.execute("BEGIN IMMEDIATE")
            try:
                row = conn.execute("SELECT holder, until FROM leases WHERE name = ?", (name,)).fetchone()
                if row is not None and row["holder"] != holder and row["until"] > now:
                    conn.execute("ROLLBACK")
                    return False
                conn.execute(
                    "INSERT INTO leases(name, holder, until) VALUES (?,?,?) ON CONFLICT(name) DO UPDATE"
                    " SET holder=excluded.holder, until=excluded.until",
                    (name, holder, now + seconds),
                )
                conn.execute("COMMIT")
                return True
            except BaseException:
                conn.execute("ROLLBACK")
                raise

    def release_lease(self, name: str, holder: str) -> None:
        with self._lock, self._conn() as conn:
            conn.execute("DELETE FROM leases WHERE name = ? AND holder = ?", (name, holder))


def open_notice_store(settings: DragnetSettings | None = None) -> NoticeStore:
    """The configured notice store (today: SQLite at ``feeds.store_path`` or
    ``<data_dir>/feeds.sqlite3``)."""
    settings = settings or get_settings()
    path = settings.feeds.store_path or settings.paths.data_dir / "feeds.sqlite3"
    return SqliteNoticeStore(path)


def dumps(notice: Notice) -> dict:
    return json.loads(notice.model_dump_json())
