"""Item pipelines: normalise and version each listing, write it out, hand batches to the workers.

* :class:`NormalizePipeline` (100): language, USD from the rate table, timestamps; drops a
  listing already emitted in this process (no duplicates even if a page is fetched twice).
* :class:`VersionPipeline` (200): a changed listing becomes a new version; an unchanged one
  keeps its version and gets ``last_seen``.  State lives in Redis when the frontier is shared,
  else in a small SQLite file in the data directory.
* :class:`JsonLinesPipeline` (800): ``--out items.jsonl``.
* :class:`HandoffPipeline` (900): batches to the sink the caller passed (the ``dragnet crawl``
  command passes the workers' ``submit_batch``); without one, listings are not handed on.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any, TextIO

from scrapy.exceptions import DropItem

from dragnet import sqlite
from dragnet.broker import restart_tolerant_redis
from dragnet.documents import Listing, utcnow
from dragnet.settings import get_settings
from extract.language import detect_language
from extract.prices import priced
from extract.rates import usd_rates

log = logging.getLogger(__name__)


class NormalizePipeline:
    def __init__(self) -> None:
        self.emitted: set[str] = set()

    def process_item(self, item: Any, spider: Any = None) -> Any:
        if not isinstance(item, Listing):
            return item
        if item.doc_id in self.emitted:
            raise DropItem(f"duplicate listing {item.url}")
        self.emitted.add(item.doc_id)
        if item.price is not None and item.price.usd is None:
            # a spider that converted nothing: today's dated rates (the market spider converts
            # itself, with its profile's own rates on top)
            item.price = priced(
                item.price.amount,
                item.price.currency,
                usd_rates(),
                item.price.crypto_amount,
                item.price.crypto_currency,
            )
        if item.lang is None:
            item.lang = detect_language(f"{item.title}. {item.text}")
        now = utcnow()
        item.crawled_at = now
        item.first_seen = item.first_seen or now
        item.last_seen = now
        return item


class _VersionState:
    """canonical id -> (content hash, version, first_seen); Redis hash or SQLite table."""

    def __init__(self, redis_url: str | None, path: Path) -> None:
        self._redis = None
        self._lock = threading.Lock()
        if redis_url:
            self._redis = restart_tolerant_redis(redis_url)  # a lost observe() would drop the listing
            self._key = "dragnet:crawl:versions"
        else:
            # Version state is rebuilt by the next crawl if lost: no fsync per listing.
            self._db = sqlite.connect(path, synchronous="OFF")
            sqlite.migrate(
                self._db,
                ["CREATE TABLE IF NOT EXISTS versions (id TEXT PRIMARY KEY, sha TEXT, version INT, first_seen TEXT)"],
            )
            self._pending = 0

    def observe(self, listing: Listing) -> tuple[int, datetime | None]:
        first = (listing.first_seen or utcnow()).isoformat()
        if self._redis is not None:
            script = self._redis.register_script(
                "local v = redis.call('HGET', KEYS[1], ARGV[1]) "
                "if not v then redis.call('HSET', KEYS[1], ARGV[1], cjson.encode({ARGV[2], 1, ARGV[3]})) "
                "return cjson.encode({ARGV[2], 1, ARGV[3]}) end "
                "local d = cjson.decode(v) "
                "if d[1] ~= ARGV[2] then d[1] = ARGV[2]; d[2] = d[2] + 1; "
                "redis.call('HSET', KEYS[1], ARGV[1], cjson.encode(d)) end "
                "return cjson.encode(d)"
            )
            sha, version, first_seen = json.loads(
                script(keys=[self._key], args=[listing.id, listing.content_sha256, first])
            )
            return int(version), datetime.fromisoformat(first_seen)
        with self._lock:
            row = self._db.execute("SELECT sha, version, first_seen FROM versions WHERE id=?", (listing.id,)).fetchone()
            if row is None:
                self._db.execute(
                    "INSERT INTO versions VALUES (?,?,?,?)", (listing.id, listing.content_sha256, 1, first)
                )
                self._commit_soon()
                return 1, datetime.fromisoformat(first)
            sha, version, first_seen = row
            if sha != listing.content_sha256:
                version += 1
                self._db.execute(
                    "UPDATE versions SET sha=?, version=? WHERE id=?", (listing.content_sha256, version, listing.id)
                )
                self._commit_soon()
            return int(version), datetime.fromisoformat(first_seen)

    def _commit_soon(self) -> None:
        self._pending += 1
        if self._pending >= 200:
            self._db.commit()
            self._pending = 0

    def close(self) -> None:
        if self._redis is None:
            self._db.commit()
            self._db.close()


_SHARED_STATES: dict[tuple[str | None, str], list] = {}
_SHARED_LOCK = threading.Lock()


class VersionPipeline:
    """One version state per process, shared by the spiders that run in it (two SQLite
    connections with pending writes would lock each other out)."""

    def __init__(self, redis_url: str | None) -> None:
        path = get_settings().paths.data_dir / "crawl_state.sqlite3"
        self._key = (redis_url, str(path))
        with _SHARED_LOCK:
            entry = _SHARED_STATES.get(self._key)
            if entry is None:
                entry = _SHARED_STATES[self._key] = [_VersionState(redis_url, path), 0]
            entry[1] += 1
        self.state: _VersionState = entry[0]

    @classmethod
    def from_crawler(cls, crawler: Any) -> VersionPipeline:
        return cls(crawler.settings.get("DRAGNET_FRONTIER_REDIS"))

    def process_item(self, item: Any, spider: Any = None) -> Any:
        if isinstance(item, Listing):
            item.version, item.first_seen = self.state.observe(item)
        return item

    def close_spider(self, spider: Any = None) -> None:
        with _SHARED_LOCK:
            entry = _SHARED_STATES[self._key]
            entry[1] -= 1
            if entry[1] == 0:
                del _SHARED_STATES[self._key]
                self.state.close()


class JsonLinesPipeline:
    def __init__(self, out: str | None) -> None:
        self.out = Path(out) if out else None
        self._file: TextIO | None = None
        self._lock = threading.Lock()

    @classmethod
    def from_crawler(cls, crawler: Any) -> JsonLinesPipeline:
        return cls(crawler.settings.get("DRAGNET_OUT"))

    def process_item(self, item: Any, spider: Any = None) -> Any:
        if self.out is not None and isinstance(item, Listing):
            with self._lock:
                if self._file is None:
                    self.out.parent.mkdir(parents=True, exist_ok=True)
                    self._file = self.out.open("a", encoding="utf-8")
                self._file.write(item.model_dump_json() + "\n")
        return item

    def close_spider(self, spider: Any = None) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


Sink = Callable[[list[Listing]], None]


class HandoffPipeline:
    """Batches listings and hands each batch to the sink off the reactor thread."""

    def __init__(self, sink: Sink | None, batch_size: int, stats: Any) -> None:
        self.sink = sink
        self.batch_size = batch_size
        self.batch: list[Listing] = []
        self.stats = stats

    @classmethod
    def from_crawler(cls, crawler: Any) -> HandoffPipeline:
        return cls(crawler.settings.get("DRAGNET_SINK"), get_settings().crawl.handoff_batch_size, crawler.stats)

    async def _flush(self) -> None:
        batch, self.batch = self.batch, []
        if not batch or self.sink is None:
            return
        try:
            await asyncio.to_thread(self.sink, batch)
            self.stats.inc_value("dragnet/handoff/listings", len(batch))
            self.stats.inc_value("dragnet/handoff/batches")
        except Exception:
            self.stats.inc_value("dragnet/handoff/failed", len(batch))
            log.exception("handing %d listings on failed", len(batch))

    async def process_item(self, item: Any, spider: Any = None) -> Any:
        if isinstance(item, Listing) and self.sink is not None:
            self.batch.append(item)
            if len(self.batch) >= self.batch_size:
                await self._flush()
        return item

    async def close_spider(self, spider: Any = None) -> None:
        await self._flush()
