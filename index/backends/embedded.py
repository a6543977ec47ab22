"""The embedded backend: one SQLite file with an FTS5 index, for one machine and the quick start.

Tables: ``listings`` (current version, JSON plus the flat filter columns), ``listing_terms``
(multi-valued filter fields: substance, identifiers), ``versions`` (every content version,
keyed by ``Listing.doc_id``) and ``listings_fts`` (title and text, porter-stemmed, and their
folded copies where search folding changes them: :mod:`index.folding`).
SQLite serialises writers (each upsert takes the write lock before it reads, so merges of the
same listing by two writers happen in turn); a connection per thread keeps the store usable
from FastAPI's thread pool."""

from __future__ import annotations

import json
import sqlite3
import threading
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

from dragnet import sqlite
from dragnet.documents import Listing, utcnow
from index.docs import as_utc, flat_fields, merge_with_existing, sanitize
from index.fields import expand
from index.folding import folded_copy
from index.query import HL_POST, HL_PRE, parse_user_query, safe_highlight, to_fts5
from index.store import (
    FACET_FIELDS,
    HISTOGRAM_SPLIT_SIZE,
    BulkResult,
    FacetBucket,
    HistogramBucket,
    HistogramSplit,
    ListingStore,
    QueryError,
    SearchHit,
    SearchQuery,
    SearchResult,
    StoreError,
)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS listings (
    rid INTEGER PRIMARY KEY,  -- the FTS5 rowid of this listing's text
    id TEXT NOT NULL UNIQUE,
    doc_id TEXT NOT NULL,
    body TEXT NOT NULL,
    market TEXT, platform TEXT, vendor TEXT, ships_from TEXT, source_kind TEXT,
    is_drug_sale INTEGER, score REAL, price_usd REAL, seen_at REAL NOT NULL,
    facet_key TEXT  -- JSON array of the facet values (_FACET_VALUES): facets count one short string
);
CREATE INDEX IF NOT EXISTS listings_seen ON listings(seen_at, id);
CREATE INDEX IF NOT EXISTS listings_newest ON listings(-seen_at, id);
CREATE INDEX IF NOT EXISTS listings_market ON listings(market);
CREATE INDEX IF NOT EXISTS listings_vendor ON listings(vendor);
-- every column a search reads except the JSON body: a full-text match joins its rows through this
-- narrow index instead of the wide table rows (a third less time on a match of most listings)
CREATE INDEX IF NOT EXISTS listings_search ON listings(rid, id, seen_at, score, price_usd, is_drug_sale, market,
    platform, vendor, ships_from, source_kind, facet_key);
CREATE TABLE IF NOT EXISTS listing_terms (
    id TEXT NOT NULL, field TEXT NOT NULL, value TEXT NOT NULL,
    PRIMARY KEY (field, value, id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS listing_terms_id ON listing_terms(id);
CREATE TABLE IF NOT EXISTS versions (
    doc_id TEXT PRIMARY KEY, listing_id TEXT NOT NULL, stored_at REAL NOT NULL, body TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS versions_listing ON versions(listing_id, stored_at);
"""
# prefix indices for 2-4 characters: without them a short prefix query ("fen*", "oxy*") merges the
# doclists of every matching term again for each highlight, 150 ms at 100k listings instead of 1
_FTS_OPTIONS = "tokenize = 'porter unicode61 remove_diacritics 2', prefix = '2 3 4'"
# the layout schema step 1 makes (kept as it was: step 3 upgrades it)
_FTS_COLUMNS_V1 = f"title, text, {_FTS_OPTIONS}"
# title and text as posted (snippets and highlights come from these two), then their folded copies
# (index.folding.folded_copy; NULL when folding changes nothing): a full-width, accented or
# zero-width-split word is found by the plain query; MATCH without a column filter searches all four
_FTS_COLUMNS_V3 = f"title, text, title_folded, text_folded, {_FTS_OPTIONS}"
# schema step 4 adds ``entities``: the listing's vendor, handles, fingerprints, wallets, onions and
# phones as words (index.entities.entity_text), so free text finds what the page did not spell out
_FTS_COLUMNS = f"title, text, title_folded, text_folded, entities, {_FTS_OPTIONS}"
_BM25 = "bm25(listings_fts, 3.0, 1.0, 3.0, 1.0, 1.0)"
_TITLE_COLUMNS = "{title title_folded}"

_TERM_FIELDS = ("substance", "identifiers", "intent", "flags", "entities")
# the facets in the order ``facet_key`` holds their values (substance: a list)
_FACET_VALUES = ("market", "platform", "vendor", "ships_from", "source_kind", "is_drug_sale", "substance", "intent")


def _facet_key(flat: dict[str, Any]) -> str:
    """A listing's facet values as one JSON array (booleans as 0/1, as SQLite's own columns)."""
    values = [int(flat[name]) if isinstance(flat[name], bool) else flat[name] for name in _FACET_VALUES]
    return json.dumps(values, separators=(",", ":"))


def _epoch(value: datetime) -> float:
    return as_utc(value).timestamp()


class EmbeddedStore(ListingStore):
    """SQLite FTS5 behind the :class:`ListingStore` contract."""

    backend_name = "embedded"

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._local = threading.local()
        self._connections: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        self._closed = False

    # -- plumbing -------------------------------------------------------------------------
    @property
    def _db(self) -> sqlite3.Connection:
        if self._closed:
            raise StoreError("store is closed")
        conn = getattr(self._local, "conn", None)
        if conn is None:
            try:
                # temp store in memory: each search's match table, no temp file to write and drop
                conn = sqlite.connect(self.path, temp_store_memory=True)
            except (sqlite3.Error, OSError) as exc:
                raise StoreError(f"cannot open {self.path}: {exc}", retryable=True) from exc
            self._local.conn = conn
            with self._lock:
                self._connections.append(conn)
        return conn

    def ensure_schema(self) -> None:
        try:
            sqlite.migrate(self._db, [_create_or_upgrade, _facet_key_with_intent, _folded_columns, _entity_columns])
        except sqlite3.Error as exc:
            raise StoreError(f"cannot create schema: {exc}") from exc

    def close(self) -> None:
        with self._lock:
            for conn in self._connections:
                try:
                    conn.close()
                except sqlite3.Error:
                    pass
            self._connections.clear()
        self._local = threading.local()
        self._closed = True

    def refresh(self) -> None:
        """Writes are visible at commit; nothing to do."""

    # -- writes ---------------------------------------------------------------------------
    def upsert(self, listings: list[Listing]) -> BulkResult:
        result = BulkResult()
        if not listings:
            return result
        db = self._db
        try:
            with db:  # one transaction per batch
                # IMMEDIATE: the write lock is taken before the first read, so two writers of the
                # same listing merge one after the other instead of from the same stale read
                if not db.in_transaction:
                    db.execute("BEGIN IMMEDIATE")
                for listing in listings:
                    try:
                        self._write_one(db, listing, result)
                    except (ValueError, TypeError) as exc:
                        result.failed.append((listing.id, f"{type(exc).__name__}: {exc}"))
        except sqlite3.OperationalError as exc:  # locked, disk full, I/O
            raise StoreError(f"embedded store write failed: {exc}", retryable=True) from exc
        except sqlite3.Error as exc:
            raise StoreError(f"embedded store write failed: {exc}") from exc
        return result

    def _write_one(self, db: sqlite3.Connection, listing: Listing, result: BulkResult) -> None:
        row = db.execute("SELECT body, rid FROM listings WHERE id = ?", (listing.id,)).fetchone()
        old = Listing.model_validate_json(row[0]) if row else None
        merged, _ = merge_with_existing(listing, old)
        stored = db.execute(
            "INSERT OR IGNORE INTO versions(doc_id, listing_id, stored_at, body) VALUES (?, ?, ?, ?)",
            (listing.doc_id, listing.id, utcnow().timestamp(), sanitize(listing).model_dump_json()),
        ).rowcount
        if stored:
            result.written += 1
        else:
            result.unchanged += 1
        version = db.execute("SELECT count(*) FROM versions WHERE listing_id = ?", (listing.id,)).fetchone()[0]
        merged = merged.model_copy(update={"version": version})
        flat = flat_fields(merged)
        values = (
            merged.doc_id,
            merged.model_dump_json(),
            flat["market"],
            flat["platform"],
            flat["vendor"],
            flat["ships_from"],
            flat["source_kind"],
            None if flat["is_drug_sale"] is None else int(flat["is_drug_sale"]),
            flat["score"],
            flat["price_usd"],
            _epoch(flat["seen_at"]),
            _facet_key(flat),
        )
        if old is None:
            rid = db.execute(
                "INSERT INTO listings(id, doc_id, body, market, platform, vendor, ships_from, source_kind,"
                " is_drug_sale, score, price_usd, seen_at, facet_key) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
                (merged.id, *values),
            ).lastrowid
        else:
            rid = row[1]
            db.execute(
                "UPDATE listings SET doc_id=?, body=?, market=?, platform=?, vendor=?, ships_from=?, source_kind=?,"
                " is_drug_sale=?, score=?, price_usd=?, seen_at=?, facet_key=? WHERE rid = ?",
                (*values, rid),
            )
            db.execute("DELETE FROM listing_terms WHERE id = ?", (merged.id,))
            db.execute("DELETE FROM listings_fts WHERE rowid = ?", (rid,))
        db.executemany(
            "INSERT OR IGNORE INTO listing_terms(id, field, value) VALUES (?, ?, ?)",
            [(merged.id, name, value) for name in _TERM_FIELDS for value in flat[name]],
        )
        db.execute(
            "INSERT INTO listings_fts(rowid, title, text, title_folded, text_folded, entities) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            (
                rid,
                merged.title,
                merged.text,
                folded_copy(merged.title),
                folded_copy(merged.text),
                flat["entity_text"] or None,
            ),
        )

    # -- reads ----------------------------------------------------------------------------
    def get(self, listing_id: str) -> Listing | None:
        row = self._db.execute("SELECT body FROM listings WHERE id = ?", (listing_id,)).fetchone()
        return Listing.model_validate_json(row[0]) if row else None

    def history(self, listing_id: str) -> list[Listing]:
        rows = self._db.execute(
            "SELECT body FROM versions WHERE listing_id = ? ORDER BY stored_at, rowid", (listing_id,)
        ).fetchall()
        out = []
        for number, (body,) in enumerate(rows, start=1):
            out.append(Listing.model_validate_json(body).model_copy(update={"version": number}))
        return out

    def _where(self, query: SearchQuery, *, skip_text: bool = False) -> tuple[str, list[Any], str | None]:
        """SQL conditions on alias ``l``, their parameters, and the FTS5 expression (or None)."""
        conds: list[str] = []
        params: list[Any] = []
        for field_name in ("market", "platform", "vendor", "ships_from", "source_kind"):
            values = getattr(query, field_name)
            if values:
                conds.append(f"l.{field_name} IN ({','.join('?' * len(values))})")
                params.extend(values)
        if query.ids:
            conds.append(f"l.id IN ({','.join('?' * len(query.ids))})")
            params.extend(query.ids)
        for field_name, values in (
            ("substance", query.substance),
            ("identifiers", query.identifiers),
            ("intent", query.intent),
        ):
            if values:
                conds.append(
                    "l.id IN (SELECT id FROM listing_terms WHERE field = ? AND value IN "
                    f"({','.join('?' * len(values))}))"
                )
                params.append(field_name)
                params.extend(values)
        if query.pgp_changed is not None:
            negate = "" if query.pgp_changed else "NOT "
            conds.append(f"l.id {negate}IN (SELECT id FROM listing_terms WHERE field = 'flags' AND value = ?)")
            params.append("pgp_changed")
        for key in query.entities:  # every key must be on the listing
            conds.append("l.id IN (SELECT id FROM listing_terms WHERE field = 'entities' AND value = ?)")
            params.append(key)
        if query.is_drug_sale is not None:
            conds.append("l.is_drug_sale = ?")
            params.append(int(query.is_drug_sale))
        if query.min_score is not None:
            conds.append("l.score >= ?")
            params.append(query.min_score)
        if query.price_usd_min is not None:
            conds.append("l.price_usd >= ?")
            params.append(query.price_usd_min)
        if query.price_usd_max is not None:
            conds.append("l.price_usd <= ?")
            params.append(query.price_usd_max)
        if query.seen_from is not None:
            conds.append("l.seen_at >= ?")
            params.append(_epoch(query.seen_from))
        if query.seen_to is not None:
            conds.append("l.seen_at <= ?")
            params.append(_epoch(query.seen_to))
        fts: str | None = None
        if not skip_text:
            parts = []
            if query.text.strip():
                parsed = parse_user_query(query.text)
                if not parsed.empty:
                    parts.append(f"({to_fts5(parsed)})")
            if query.title_text.strip():
                parsed = parse_user_query(query.title_text)
                if not parsed.empty:
                    parts.append(f"{_TITLE_COLUMNS} : ({to_fts5(parsed)})")
            fts = " AND ".join(parts) or None
        return (" AND ".join(conds) or "1"), params, fts

    _SORT_KEYS = {
        "relevance": "m.rank",
        "newest": "-l.seen_at",
        "oldest": "l.seen_at",
        "price_asc": "COALESCE(l.price_usd, 1e300)",
        "price_desc": "-COALESCE(l.price_usd, -1)",
        "score_desc": "-COALESCE(l.score, -1)",
    }

    def search(self, query: SearchQuery) -> SearchResult:
        try:
            return self._search(expand(query))
        except sqlite3.OperationalError as exc:
            if "fts5" in str(exc) or "syntax" in str(exc):
                raise QueryError(f"the query could not be understood: {exc}") from exc
            raise StoreError(f"embedded search failed: {exc}", retryable=True) from exc

    def _match(self, db: sqlite3.Connection, query: SearchQuery, sort: str | None) -> str:
        """Materialise the matching listings once into a temp table ``m`` (rid, id, rank, sort
        key ``k1``, seen_at and ``facet_key``): the full-text match runs first, on the FTS
        index alone (the planner would otherwise walk a filter index and test MATCH row by
        row), then the filters, then the sort key.  Count, page, facets and histogram all read
        ``m``.  BM25 is computed only when the results are sorted by it: on a query matching
        most listings it was nine tenths of the match."""
        where, params, fts = self._where(query)
        db.execute("DROP TABLE IF EXISTS temp.m")
        db.execute("DROP TABLE IF EXISTS temp.t")
        key = self._SORT_KEYS[sort] if sort else "0"
        if fts is not None:
            rank = _BM25 if sort == "relevance" else "NULL"
            db.execute(
                f"CREATE TEMP TABLE t AS SELECT rowid AS rid, {rank} AS rank "
                "FROM listings_fts WHERE listings_fts MATCH ?",
                (fts,),
            )
            db.execute(
                f"CREATE TEMP TABLE m AS SELECT l.rid AS rid, l.id AS id, m.rank AS rank, {key} AS k1, "
                f"l.seen_at AS seen_at, l.facet_key AS facet_key FROM t AS m "
                f"CROSS JOIN listings l INDEXED BY listings_search ON l.rid = m.rid WHERE {where}",
                params,
            )
        else:
            key = key.replace("m.rank", "0")
            db.execute(
                f"CREATE TEMP TABLE m AS SELECT l.rid AS rid, l.id AS id, NULL AS rank, {key} AS k1, "
                f"l.seen_at AS seen_at, l.facet_key AS facet_key FROM listings l WHERE {where}",
                params,
            )
        return fts or ""

    def _search(self, query: SearchQuery) -> SearchResult:
        db = self._db
        has_text = bool(query.text.strip() or query.title_text.strip())
        sort = query.sort if (query.sort != "relevance" or has_text) else "newest"
        if not has_text and not query.facets:
            return self._page_without_text(db, query, sort)
        with db:
            fts = self._match(db, query, sort)
            total = db.execute("SELECT count(*) FROM m").fetchone()[0]
            # the page is cut from m first; only its rows are joined to their JSON bodies
            sql = "SELECT rid, id, rank, k1 FROM m"
            params: list[Any] = []
            if query.search_after:
                if len(query.search_after) != 2:
                    raise QueryError("search_after must be the next_search_after value of a previous page")
                try:
                    params = [float(query.search_after[0]), str(query.search_after[1])]
                except (TypeError, ValueError) as exc:
                    raise QueryError("invalid search_after") from exc
                sql += " WHERE (k1, id) > (?, ?)"
            sql += " ORDER BY k1, id LIMIT ?"
            sql = (
                f"SELECT p.rid, p.id, p.rank, p.k1, l.body FROM ({sql}) AS p CROSS JOIN listings l ON l.rid = p.rid "
                "ORDER BY p.k1, p.id"
            )
            rows = db.execute(sql, params + [query.size]).fetchall() if query.size else []
            snippets: dict[int, tuple[str | None, str | None]] = {}
            if fts and query.highlight and rows:
                rids = [r[0] for r in rows]
                for rid, title, text in db.execute(
                    f"SELECT rowid, snippet(listings_fts, 0, '{HL_PRE}', '{HL_POST}', '…', 24), "
                    f"snippet(listings_fts, 1, '{HL_PRE}', '{HL_POST}', '…', 32) FROM listings_fts "
                    f"WHERE listings_fts MATCH ? AND rowid IN ({','.join('?' * len(rids))})",
                    [fts, *rids],
                ):
                    snippets[rid] = (title, text)
            facets = self._facets(db) if query.facets else {}
        hits = []
        for rid, listing_id, rank, k1, body in rows:
            highlights: dict[str, list[str]] = {}
            for name, fragment in zip(("title", "text"), snippets.get(rid, (None, None)), strict=True):
                if fragment and HL_PRE in fragment:
                    highlights[name] = [safe_highlight(fragment)]
            hits.append(
                SearchHit(
                    listing=Listing.model_validate_json(body),
                    score=(None if rank is None else -rank),
                    highlights=highlights,
                    sort_key=[k1, listing_id],
                )
            )
        next_after = hits[-1].sort_key if hits and len(hits) == query.size else None
        return SearchResult(total=total, hits=hits, facets=facets, next_search_after=next_after)

    def _page_without_text(self, db: sqlite3.Connection, query: SearchQuery, sort: str) -> SearchResult:
        """Filters only, no facets (exports, ``scan``, deep paging): straight off the sort-key
        indices with ``LIMIT``, so page N costs the same as page 1."""
        where, params, _ = self._where(query)
        key = self._SORT_KEYS[sort]
        total = db.execute(f"SELECT count(*) FROM listings l WHERE {where}", params).fetchone()[0]
        sql = f"SELECT l.id, {key} AS k1, l.body FROM listings l WHERE {where}"
        page_params = list(params)
        if query.search_after:
            if len(query.search_after) != 2:
                raise QueryError("search_after must be the next_search_after value of a previous page")
            try:
                page_params += [float(query.search_after[0]), str(query.search_after[1])]
            except (TypeError, ValueError) as exc:
                raise QueryError("invalid search_after") from exc
            sql += f" AND ({key}, l.id) > (?, ?)"
        sql += f" ORDER BY {key}, l.id LIMIT ?"
        rows = db.execute(sql, page_params + [query.size]).fetchall() if query.size else []
        hits = [
            SearchHit(listing=Listing.model_validate_json(body), sort_key=[k1, listing_id])
            for listing_id, k1, body in rows
        ]
        next_after = hits[-1].sort_key if hits and len(hits) == query.size else None
        return SearchResult(total=total, hits=hits, next_search_after=next_after)

    def _facets(self, db: sqlite3.Connection, size: int = 20) -> dict[str, list[FacetBucket]]:
        """All facets from one read of ``m``'s ``facet_key`` column, counted here: SQLite groups
        by sorting, and grouping every matching row by seven columns cost more than the read."""
        counts: dict[str, Counter[str]] = {name: Counter() for name in FACET_FIELDS}
        for key, number in Counter(key for (key,) in db.execute("SELECT facet_key FROM m")).items():
            for name, value in zip(_FACET_VALUES, json.loads(key), strict=True):
                if value is None:
                    continue
                if name in ("substance", "intent"):  # lists
                    for item in value:
                        counts[name][item] += number
                elif name == "is_drug_sale":
                    counts[name]["true" if value else "false"] += number
                else:
                    counts[name][str(value)] += number
        return {
            name: [
                FacetBucket(value=v, count=c) for v, c in sorted(values.items(), key=lambda kv: (-kv[1], kv[0]))[:size]
            ]
            for name, values in counts.items()
        }

    def count(self, query: SearchQuery | None = None) -> int:
        query = expand(query or SearchQuery())
        db = self._db
        if not (query.text.strip() or query.title_text.strip()):
            where, params, _ = self._where(query)
            return db.execute(f"SELECT count(*) FROM listings l WHERE {where}", params).fetchone()[0]
        with db:
            self._match(db, query, None)
            return db.execute("SELECT count(*) FROM m").fetchone()[0]

    def date_histogram(
        self,
        query: SearchQuery,
        interval: Literal["day", "week", "month"] = "day",
        split: HistogramSplit | None = None,
    ) -> list[HistogramBucket]:
        db = self._db
        fmt = "%Y-%m-%d"
        key = "facet_key" if split else "NULL"
        query = expand(query)
        with db:
            self._match(db, query, None)
            rows = db.execute(
                f"SELECT strftime('{fmt}', seen_at, 'unixepoch') AS d, {key} AS k, count(*) FROM m GROUP BY d, k"
            ).fetchall()
        counts: dict[datetime, int] = {}
        parts: dict[datetime, Counter[str]] = {}
        position = _FACET_VALUES.index(split) if split else -1
        for day, facet_key, number in rows:
            start = bucket_start(datetime.strptime(day, fmt).replace(tzinfo=UTC), interval)
            counts[start] = counts.get(start, 0) + number
            if split:
                value = json.loads(facet_key)[position]
                values = value if isinstance(value, list) else ([] if value is None else [str(value)])
                bucket = parts.setdefault(start, Counter())
                for item in values:
                    bucket[item] += number
        splits = {
            start: dict(sorted(c.items(), key=lambda kv: (-kv[1], kv[0]))[:HISTOGRAM_SPLIT_SIZE])
            for start, c in parts.items()
        }
        return fill_histogram(counts, interval, splits)


def bucket_start(moment: datetime, interval: str) -> datetime:
    """Start of the UTC day, ISO week (Monday) or month holding ``moment``."""
    day = moment.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    if interval == "week":
        return day - timedelta(days=day.weekday())
    if interval == "month":
        return day.replace(day=1)
    return day


def _next_bucket(start: datetime, interval: str) -> datetime:
    if interval == "day":
        return start + timedelta(days=1)
    if interval == "week":
        return start + timedelta(days=7)
    return (start.replace(day=28) + timedelta(days=4)).replace(day=1)


def fill_histogram(
    counts: dict[datetime, int], interval: str, splits: dict[datetime, dict[str, int]] | None = None
) -> list[HistogramBucket]:
    """Buckets from the first to the last non-empty one, empty ones included (as the engine's
    ``min_doc_count: 0`` gives), so both backends return the same series."""
    if not counts:
        return []
    out = []
    cursor, last = min(counts), max(counts)
    while cursor <= last:
        out.append(HistogramBucket(start=cursor, count=counts.get(cursor, 0), split=(splits or {}).get(cursor, {})))
        cursor = _next_bucket(cursor, interval)
    return out


__all__ = ["EmbeddedStore", "bucket_start", "fill_histogram"]


def _create_or_upgrade(db: sqlite3.Connection) -> None:
    """Schema step 1: the current layout, created, or reached from a store written before
    ``facet_key`` and the prefix indices existed (its full-text table is rebuilt once)."""
    columns = {row[1] for row in db.execute("PRAGMA table_info(listings)")}
    if columns and "facet_key" not in columns:  # a store written before the column existed
        with db:
            db.execute("ALTER TABLE listings ADD COLUMN facet_key TEXT")
            db.execute(
                "UPDATE listings SET facet_key = json_array(market, platform, vendor, ships_from, "
                "source_kind, is_drug_sale, json(coalesce((SELECT json_group_array(value) FROM "
                "listing_terms t WHERE t.id = listings.id AND t.field = 'substance'), '[]')))"
            )
    db.executescript(_SCHEMA)
    fts = db.execute("SELECT sql FROM sqlite_master WHERE name = 'listings_fts'").fetchone()
    if fts is None:
        db.execute(f"CREATE VIRTUAL TABLE listings_fts USING fts5({_FTS_COLUMNS_V1})")
    elif "prefix" not in fts[0]:  # a store from before the prefix indices: rebuilt once
        with db:
            db.execute(f"CREATE VIRTUAL TABLE listings_fts_rebuilt USING fts5({_FTS_COLUMNS_V1})")
            db.execute(
                "INSERT INTO listings_fts_rebuilt(rowid, title, text) SELECT rowid, title, text FROM listings_fts"
            )
            db.execute("DROP TABLE listings_fts")
            db.execute("ALTER TABLE listings_fts_rebuilt RENAME TO listings_fts")


def _facet_key_with_intent(db: sqlite3.Connection) -> None:
    """Schema step 2: ``facet_key`` holds the verdict's intent as its last value (listings
    stored before the intent head have none)."""
    with db:
        db.execute("UPDATE listings SET facet_key = json_insert(facet_key, '$[#]', json('[]'))")


def _folded_columns(db: sqlite3.Connection) -> None:
    """Schema step 3: the full-text index gets the folded copies of title and text
    (:func:`index.folding.folded_copy`); rebuilt once, the copies computed from the stored text."""
    fts = db.execute("SELECT sql FROM sqlite_master WHERE name = 'listings_fts'").fetchone()
    if "title_folded" in fts[0]:
        return
    db.create_function("dn_folded_copy", 1, folded_copy, deterministic=True)
    with db:
        db.execute("DROP TABLE IF EXISTS listings_fts_rebuilt")
        db.execute(f"CREATE VIRTUAL TABLE listings_fts_rebuilt USING fts5({_FTS_COLUMNS_V3})")
        db.execute(
            "INSERT INTO listings_fts_rebuilt(rowid, title, text, title_folded, text_folded) "
            "SELECT rowid, title, text, dn_folded_copy(title), dn_folded_copy(text) FROM listings_fts"
        )
        db.execute("DROP TABLE listings_fts")
        db.execute("ALTER TABLE listings_fts_rebuilt RENAME TO listings_fts")


def _entity_columns(db: sqlite3.Connection) -> None:
    """Schema step 4: entities (index.entities): their keys in ``listing_terms`` (field
    ``entities``) and their words in a new full-text column ``entities``; both computed once
    from the stored listings (the full-text index is rebuilt)."""
    fts = db.execute("SELECT sql FROM sqlite_master WHERE name = 'listings_fts'").fetchone()
    if "entities" in fts[0]:
        return
    with db:
        db.execute("DROP TABLE IF EXISTS listings_fts_rebuilt")
        db.execute(f"CREATE VIRTUAL TABLE listings_fts_rebuilt USING fts5({_FTS_COLUMNS})")
        db.execute(
            "INSERT INTO listings_fts_rebuilt(rowid, title, text, title_folded, text_folded) "
            "SELECT rowid, title, text, title_folded, text_folded FROM listings_fts"
        )
        db.execute("DROP TABLE listings_fts")
        db.execute("ALTER TABLE listings_fts_rebuilt RENAME TO listings_fts")
        db.execute("DELETE FROM listing_terms WHERE field = 'entities'")
        for rid, body in db.execute("SELECT rid, body FROM listings").fetchall():
            flat = flat_fields(Listing.model_validate_json(body))
            db.executemany(
                "INSERT OR IGNORE INTO listing_terms(id, field, value) VALUES (?, 'entities', ?)",
                [(flat["id"], key) for key in flat["entities"]],
            )
            if flat["entity_text"]:
                db.execute("UPDATE listings_fts SET entities = ? WHERE rowid = ?", (flat["entity_text"], rid))
