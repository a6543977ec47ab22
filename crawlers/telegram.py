"""Telegram channels: the channel directory (``dragnet sources``) and the message ledger.

Both live in one small SQLite file, ``<data_dir>/telegram.sqlite3``:

* ``channels``: the public channels an analyst added (``dragnet sources add telegram NAME``),
  each with its re-crawl interval and when it was last crawled;
* ``messages``: every message a crawl saw: its date, views, "edited" mark, content hash and
  links, first and last seen, and ``deleted_at`` once a re-crawl of the range it lay in no longer
  finds it.  A :class:`dragnet.documents.Listing` has no place for a post's date or view count,
  and a deletion is not a new version of a listing, so both are kept here (and in the evidence).
"""

from __future__ import annotations

import json
import re
import threading
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from dragnet import sqlite
from dragnet.settings import get_settings

CHANNEL_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_]{3,31}$")  # Telegram's public username rules
PLATFORMS = ("telegram",)

_MIGRATIONS = [
    "CREATE TABLE IF NOT EXISTS channels (platform TEXT, name TEXT, interval_s REAL, added_at TEXT, "
    "last_crawled TEXT, PRIMARY KEY (platform, name));"
    "CREATE TABLE IF NOT EXISTS messages (channel TEXT, msg_id INT, url TEXT, sha TEXT, date TEXT, views INT, "
    "edited INT, links TEXT, media TEXT, first_seen TEXT, last_seen TEXT, deleted_at TEXT, "
    "PRIMARY KEY (channel, msg_id))",
]


def _now() -> datetime:
    return datetime.now(UTC)


def channel_name(value: str) -> str:
    """A public channel username (``@name``, ``t.me/name`` and case are forgiven); else ValueError."""
    name = value.strip().removeprefix("@")
    name = re.sub(r"^(https?://)?t\.me/(s/)?", "", name).strip("/")
    if not CHANNEL_RE.match(name):
        raise ValueError(f"not a public Telegram channel name: {value!r} (5-32 letters, digits, underscores)")
    return name.lower()


@dataclass
class Source:
    platform: str
    name: str
    interval_s: float
    added_at: str
    last_crawled: str | None

    def due(self, now: datetime) -> bool:
        if not self.last_crawled:
            return True
        return datetime.fromisoformat(self.last_crawled) + timedelta(seconds=self.interval_s) <= now


@dataclass
class Seen:
    """One message as a crawl read it."""

    channel: str
    msg_id: int
    url: str
    sha: str
    date: str | None
    views: int | None
    edited: bool
    links: list[str]
    media: list[str]


class TelegramState:
    """The channel directory and message ledger (thread-safe; one connection per instance)."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path or get_settings().paths.data_dir / "telegram.sqlite3"
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite.connect(self.path)
        sqlite.migrate(self._db, _MIGRATIONS)
        self._lock = threading.Lock()

    # -- the channel directory -------------------------------------------------------------------
    def add_source(self, platform: str, name: str, interval_s: float) -> tuple[Source, bool]:
        """Add (or re-time) a channel; returns it and whether it was new."""
        if platform not in PLATFORMS:
            raise ValueError(f"unknown platform {platform!r} (known: {', '.join(PLATFORMS)})")
        if interval_s <= 0:
            raise ValueError("the re-crawl interval must be positive")
        name = channel_name(name)
        with self._lock:
            existed = self._db.execute(
                "SELECT 1 FROM channels WHERE platform=? AND name=?", (platform, name)
            ).fetchone()
            if existed:
                self._db.execute(
                    "UPDATE channels SET interval_s=? WHERE platform=? AND name=?", (interval_s, platform, name)
                )
            else:
                self._db.execute(
                    "INSERT INTO channels VALUES (?,?,?,?,NULL)", (platform, name, interval_s, _now().isoformat())
                )
            self._db.commit()
        source = next(s for s in self.sources(platform) if s.name == name)
        return source, not existed

    def sources(self, platform: str | None = None) -> list[Source]:
        with self._lock:
            rows = self._db.execute(
                "SELECT platform, name, interval_s, added_at, last_crawled FROM channels "
                + ("WHERE platform=? " if platform else "")
                + "ORDER BY platform, name",
                (platform,) if platform else (),
            ).fetchall()
        return [Source(*row) for row in rows]

    def due_sources(self, platform: str, now: datetime | None = None) -> list[Source]:
        now = now or _now()
        return [s for s in self.sources(platform) if s.due(now)]

    def mark_crawled(self, platform: str, name: str) -> None:
        with self._lock:
            self._db.execute(
                "UPDATE channels SET last_crawled=? WHERE platform=? AND name=?", (_now().isoformat(), platform, name)
            )
            self._db.commit()

    # -- the message ledger ----------------------------------------------------------------------
    def observe(self, seen: Seen) -> str:
        """Record one message; returns ``new``, ``edited`` (its text changed since last seen),
        ``same`` or ``reappeared`` (it was marked deleted)."""
        now = _now().isoformat()
        with self._lock:
            row = self._db.execute(
                "SELECT sha, deleted_at FROM messages WHERE channel=? AND msg_id=?", (seen.channel, seen.msg_id)
            ).fetchone()
            values = (
                seen.url,
                seen.sha,
                seen.date,
                seen.views,
                int(seen.edited),
                json.dumps(seen.links),
                json.dumps(seen.media),
            )
            if row is None:
                self._db.execute(
                    "INSERT INTO messages VALUES (?,?,?,?,?,?,?,?,?,?,?,NULL)",
                    (seen.channel, seen.msg_id, *values, now, now),
                )
                outcome = "new"
            else:
                self._db.execute(
                    "UPDATE messages SET url=?, sha=?, date=?, views=?, edited=?, links=?, media=?, last_seen=?, "
                    "deleted_at=NULL WHERE channel=? AND msg_id=?",
                    (*values, now, seen.channel, seen.msg_id),
                )
                outcome = "reappeared" if row[1] else ("edited" if row[0] != seen.sha else "same")
            self._db.commit()
        return outcome

    def sweep_deleted(self, channel: str, low: int, high: int | None, present: set[int]) -> list[tuple[int, str]]:
        """Messages of ``channel`` seen before with ids in ``[low, high]`` (``high`` None: no
        upper bound) that are not ``present`` now: marked deleted, returned as ``(id, url)``."""
        with self._lock:
            rows = self._db.execute(
                "SELECT msg_id, url FROM messages WHERE channel=? AND deleted_at IS NULL AND msg_id>=?"
                + (" AND msg_id<=?" if high is not None else ""),
                (channel, low, high) if high is not None else (channel, low),
            ).fetchall()
            gone = [(int(i), str(u)) for i, u in rows if int(i) not in present]
            now = _now().isoformat()
            self._db.executemany(
                "UPDATE messages SET deleted_at=? WHERE channel=? AND msg_id=?", [(now, channel, i) for i, _ in gone]
            )
            self._db.commit()
        return gone

    def messages(self, channel: str) -> dict[int, dict[str, Any]]:
        with self._lock:
            cursor = self._db.execute("SELECT * FROM messages WHERE channel=? ORDER BY msg_id", (channel,))
            names = [d[0] for d in cursor.description]
            rows = cursor.fetchall()
        out = {}
        for row in rows:
            record = dict(zip(names, row, strict=True))
            record["links"] = json.loads(record["links"] or "[]")
            record["media"] = json.loads(record["media"] or "[]")
            record["edited"] = bool(record["edited"])
            out[int(record["msg_id"])] = record
        return out

    def close(self) -> None:
        with self._lock:
            self._db.close()
