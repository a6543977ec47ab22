"""The search-engine backend: Elasticsearch 8/9 (official ``elasticsearch`` client) and
OpenSearch 2/3 (``opensearch-py``) with ONE set of request bodies.

Layout (``P`` = ``settings.search.index_prefix``):

* ``P-listings``: write alias over a dated index ``P-listings-YYYY.MM.DD`` (created on the first
  ``ensure_schema``), one document per listing (``_id`` = listing id), the current version.
  A re-index to a new dated index (new mappings) swaps the alias without touching callers.
* ``P-versions-YYYY.MM``: the content versions of listings that have changed (``_id`` =
  ``Listing.doc_id``, written with ``op_type=create`` so that writing a version twice is a
  no-op), in the month of the listing's ``first_seen`` so all versions of one listing share an
  index; read through alias ``P-versions``.  History is copy-on-change: a listing that never
  changed is its current document alone (one write per new listing, not two); its first change
  archives the content it replaces and the new one.  ``dn.content_stored_at`` on the current
  document keeps when its content was first stored, so the archived copy sorts where it belongs.
* index templates ``P-listings`` and ``P-versions`` carry the mappings: ``title``/``text`` with
  the English analyzer and a ``.std`` standard-analyzer sub-field, keyword fields (``.raw`` on
  title), ``price`` as ``scaled_float``, dates, the classification object, and ``dn.*``: the
  derived filter/sort fields shared with the embedded backend (:func:`index.docs.flat_fields`).

Writes are create-first while most arriving listings are new (``op_type=create`` of the new
current document; a 409 falls back to the read-merge-write with ``mget``), mget-first otherwise.
The merge's write is conditional on what it read (``if_seq_no``), so concurrent indexers merge
again instead of overwriting each other, and ``dn.contents`` keeps the version count exact.

Bulk writes: per-item failures are split into retryable (429, 5xx: retried with exponential
backoff) and permanent (reported in ``BulkResult.failed``); an engine that cannot be reached
raises ``StoreError(retryable=True)`` after ``settings.search.max_retries`` tries.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
import zlib
from json.encoder import encode_basestring as _quote  # type: ignore[attr-defined]
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from typing import Any, Literal, TypeVar

import httpx
import pydantic_core

from dragnet.documents import Listing, utcnow
from dragnet.settings import DragnetSettings
from index.docs import as_utc, flat_fields, merge_with_existing, sanitize
from index.query import HL_POST, HL_PRE, parse_user_query, safe_highlight, to_simple_query_string
from index.store import (
    FACET_FIELDS,
    BulkResult,
    FacetBucket,
    HistogramBucket,
    ListingStore,
    QueryError,
    SearchHit,
    SearchQuery,
    SearchResult,
    StoreError,
)

log = logging.getLogger(__name__)
T = TypeVar("T")

_KW = {"type": "keyword", "ignore_above": 1024}
_DISABLED = {"type": "object", "enabled": False}
_LISTING_PROPERTIES: dict[str, Any] = {
    "id": {"type": "keyword"}, "url": _KW, "canonical_url": _KW, "source_kind": {"type": "keyword"},
    "platform": _KW, "market": _KW, "mirror": _KW,
    "crawled_at": {"type": "date"}, "first_seen": {"type": "date"}, "last_seen": {"type": "date"},
    "version": {"type": "integer"},
    "title": {"type": "text", "analyzer": "english",
              "fields": {"std": {"type": "text", "analyzer": "standard"}, "raw": {"type": "keyword", "ignore_above": 512}}},
    "text": {"type": "text", "analyzer": "english", "fields": {"std": {"type": "text", "analyzer": "standard"}}},
    "lang": {"type": "keyword"},
    "price": {"properties": {"amount": {"type": "scaled_float", "scaling_factor": 100},
                             "currency": {"type": "keyword"},
                             "usd": {"type": "scaled_float", "scaling_factor": 100}}},
    "quantity": {"properties": {"value": {"type": "float"}, "unit": {"type": "keyword"}}},
    "ships_from": {"type": "keyword"}, "ships_to": {"type": "keyword"},
    "vendor": {"properties": {"name": {"type": "keyword", "ignore_above": 256, "fields": {"text": {"type": "text"}}},
                              "market": _KW, "pgp_fingerprint": {"type": "keyword"}}},
    "contacts": {"properties": {"kind": {"type": "keyword"}, "handle": _KW}},
    "crypto": {"properties": {"chain": {"type": "keyword"}, "address": _KW}},
    "pgp_fingerprints": {"type": "keyword"}, "images": {"type": "keyword"},
    "classification": {"properties": {
        "is_drug_sale": {"type": "boolean"}, "score": {"type": "float"}, "threshold": {"type": "float"},
        "model_version": {"type": "keyword"}, "substances": _DISABLED, "evidence": _DISABLED,
        "explanation": {"type": "text", "analyzer": "english"}}},
    "content_sha256": {"type": "keyword"},
    "snapshot": {"properties": {"warc_file": _KW, "record_id": _KW}},
    "screenshot_sha256": {"type": "keyword"},
    "takedown": {"properties": {"platform": {"type": "keyword"}, "status": {"type": "keyword"}, "history": _DISABLED}},
    "dn": {"properties": {
        "vendor": {"type": "keyword", "ignore_above": 256}, "substance": {"type": "keyword"},
        "identifiers": _KW, "is_drug_sale": {"type": "boolean"}, "score": {"type": "float"},
        # double, not scaled_float: OpenSearch 2.19 skips documents when sorting a scaled_float
        # (its sort optimisation), so the sort/range copy is a plain double; price.* stays scaled.
        "price_usd": {"type": "double"}, "seen_at": {"type": "date"}}},
}
_VERSION_PROPERTIES: dict[str, Any] = {
    "listing_id": {"type": "keyword"}, "doc_id": {"type": "keyword"}, "stored_at": {"type": "date"},
    "listing": _DISABLED,
}
_TEXT_FIELDS = ["title^3", "title.std^2", "text", "text.std"]
_SQS_FLAGS = "AND|OR|NOT|PHRASE|PREFIX|PRECEDENCE|WHITESPACE"
_FACET_SOURCE = {"market": "market", "platform": "platform", "vendor": "dn.vendor", "substance": "dn.substance",
                 "ships_from": "ships_from", "source_kind": "source_kind", "is_drug_sale": "dn.is_drug_sale"}
_LOAD_SETTINGS = {"index": {"refresh_interval": "-1", "translog.durability": "async"}}
_BULK_FILTER = "errors,items.*.status,items.*.error"
_RETRYABLE_STATUS = {408, 429, 500, 502, 503, 504}
# create-first pays off while at least this share of a chunk is new: a listing the engine holds
# already costs a refused create on top of the mget, a new one saves its lookup
_CREATE_FIRST_SHARE = 0.5
# merges of one chunk when other writers keep changing the same listings (409 on if_seq_no)
_MERGE_ATTEMPTS = 5
# content hashes kept on a current document for its version count; a listing that changed more
# often than this counts a return to a content older than the last this many as a new version
_MAX_CONTENTS = 1_000


def _sort_clause(sort: str) -> list[dict[str, Any]]:
    tiebreak = {"id": "asc"}
    return {
        "relevance": [{"_score": "desc"}, tiebreak],
        "newest": [{"dn.seen_at": "desc"}, tiebreak],
        "oldest": [{"dn.seen_at": "asc"}, tiebreak],
        "price_asc": [{"dn.price_usd": {"order": "asc", "missing": "_last"}}, tiebreak],
        "price_desc": [{"dn.price_usd": {"order": "desc", "missing": "_last"}}, tiebreak],
        "score_desc": [{"dn.score": {"order": "desc", "missing": "_last"}}, tiebreak],
    }[sort]


def build_filters(query: SearchQuery) -> list[dict[str, Any]]:
    """The ``bool.filter`` clauses for a query's structured filters (no user text here)."""
    filters: list[dict[str, Any]] = []
    for name, field in (("market", "market"), ("platform", "platform"), ("vendor", "dn.vendor"),
                        ("substance", "dn.substance"), ("ships_from", "ships_from"),
                        ("source_kind", "source_kind"), ("identifiers", "dn.identifiers"), ("ids", "id")):
        values = getattr(query, name)
        if values:
            filters.append({"terms": {field: list(values)}})
    if query.is_drug_sale is not None:
        filters.append({"term": {"dn.is_drug_sale": query.is_drug_sale}})
    if query.min_score is not None:
        filters.append({"range": {"dn.score": {"gte": query.min_score}}})
    price: dict[str, float] = {}
    if query.price_usd_min is not None:
        price["gte"] = query.price_usd_min
    if query.price_usd_max is not None:
        price["lte"] = query.price_usd_max
    if price:
        filters.append({"range": {"dn.price_usd": price}})
    seen: dict[str, str] = {}
    if query.seen_from is not None:
        seen["gte"] = as_utc(query.seen_from).isoformat()
    if query.seen_to is not None:
        seen["lte"] = as_utc(query.seen_to).isoformat()
    if seen:
        filters.append({"range": {"dn.seen_at": seen}})
    return filters


def build_query(query: SearchQuery) -> dict[str, Any]:
    """The engine query: filters plus the user text through ``simple_query_string`` rebuilt by
    the safe parser (the user's own string never reaches the engine)."""
    must: list[dict[str, Any]] = []
    if query.text.strip():
        parsed = parse_user_query(query.text)
        if not parsed.empty:
            must.append({"simple_query_string": {
                "query": to_simple_query_string(parsed), "fields": _TEXT_FIELDS, "default_operator": "and",
                "flags": _SQS_FLAGS, "lenient": True}})
    return {"bool": {"must": must or [{"match_all": {}}], "filter": build_filters(query)}}


def build_search_body(query: SearchQuery) -> dict[str, Any]:
    """One request body for both engines."""
    has_text = bool(query.text.strip())
    sort = query.sort if (query.sort != "relevance" or has_text) else "newest"
    body: dict[str, Any] = {
        "query": build_query(query), "size": query.size, "sort": _sort_clause(sort),
        "track_total_hits": True, "_source": {"excludes": ["dn"]},
    }
    if query.search_after:
        body["search_after"] = list(query.search_after)
    if query.highlight and has_text:
        body["highlight"] = {"pre_tags": [HL_PRE], "post_tags": [HL_POST], "require_field_match": False,
                             "encoder": "default",
                             "fields": {"title": {"number_of_fragments": 0},
                                        "text": {"fragment_size": 160, "number_of_fragments": 3}}}
    if query.facets:
        body["aggs"] = {name: {"terms": {"field": _FACET_SOURCE[name], "size": 20}} for name in FACET_FIELDS}
    return body


class EngineClient:
    """The few calls the store makes, for either client; request bodies are identical, only
    the calling convention differs (``**body`` for elasticsearch-py, ``body=`` for opensearch-py)."""

    def __init__(self, flavour: Literal["opensearch", "elasticsearch"], url: str, settings: DragnetSettings) -> None:
        self.flavour = flavour
        s = settings.search
        auth = (s.username, s.password.get_secret_value()) if s.username and s.password else None
        if flavour == "opensearch":
            from opensearchpy import OpenSearch

            self.raw: Any = OpenSearch(hosts=[url], http_auth=auth, verify_certs=s.verify_certs, timeout=s.request_timeout_s,
                                       max_retries=0, retry_on_timeout=False, http_compress=False,
                                       pool_maxsize=s.bulk_concurrency + 2)
        else:
            from elasticsearch import Elasticsearch

            self.raw = Elasticsearch(url, basic_auth=auth, verify_certs=s.verify_certs, request_timeout=s.request_timeout_s,
                                     max_retries=0, retry_on_timeout=False,
                                     connections_per_node=s.bulk_concurrency + 2)

    @staticmethod
    def _body(response: Any) -> Any:
        return getattr(response, "body", response)

    def search(self, index: str, body: dict[str, Any]) -> dict[str, Any]:
        if self.flavour == "opensearch":
            return self.raw.search(index=index, body=body)
        return self._body(self.raw.search(index=index, **body))

    def count(self, index: str, query: dict[str, Any]) -> int:
        if self.flavour == "opensearch":
            return int(self.raw.count(index=index, body={"query": query})["count"])
        return int(self._body(self.raw.count(index=index, query=query))["count"])

    def bulk(self, ndjson: bytes) -> dict[str, Any]:
        """One ``_bulk`` of an encoded body; the answer is cut to what the store reads."""
        if self.flavour == "opensearch":
            return self.raw.bulk(body=ndjson, filter_path=_BULK_FILTER)
        return self._body(self.raw.bulk(operations=ndjson, filter_path=_BULK_FILTER))

    def mget(self, index: str, ids: list[str]) -> list[dict[str, Any]]:
        if self.flavour == "opensearch":
            return self.raw.mget(index=index, body={"ids": ids})["docs"]
        return self._body(self.raw.mget(index=index, ids=ids))["docs"]

    def put_index_template(self, name: str, body: dict[str, Any]) -> None:
        if self.flavour == "opensearch":
            self.raw.indices.put_index_template(name=name, body=body)
        else:
            self.raw.indices.put_index_template(name=name, **body)

    def alias_exists(self, name: str) -> bool:
        return bool(self.raw.indices.exists_alias(name=name))

    def create_index(self, name: str, body: dict[str, Any]) -> None:
        if self.flavour == "opensearch":
            self.raw.indices.create(index=name, body=body)
        else:
            self.raw.indices.create(index=name, **body)

    def refresh(self, index: str) -> None:
        self.raw.indices.refresh(index=index)

    def flush(self, index: str) -> None:
        self.raw.indices.flush(index=index, allow_no_indices=True, ignore_unavailable=True)

    def put_settings(self, index: str, body: dict[str, Any]) -> None:
        if self.flavour == "opensearch":
            self.raw.indices.put_settings(index=index, body=body, allow_no_indices=True, ignore_unavailable=True)
        else:
            self.raw.indices.put_settings(index=index, settings=body, allow_no_indices=True, ignore_unavailable=True)

    def delete_indices(self, pattern: str) -> None:
        self.raw.indices.delete(index=pattern, expand_wildcards="all", ignore_unavailable=True)

    def delete_template(self, name: str) -> None:
        try:
            self.raw.indices.delete_index_template(name=name)
        except Exception:  # noqa: BLE001 - already gone
            pass

    def close(self) -> None:
        self.raw.close()


def detect_flavour(url: str, settings: DragnetSettings) -> Literal["opensearch", "elasticsearch"]:
    """Ask the server who it is (``GET /``): OpenSearch says ``version.distribution: opensearch``."""
    s = settings.search
    auth = (s.username, s.password.get_secret_value()) if s.username and s.password else None
    try:
        response = httpx.get(url.rstrip("/") + "/", auth=auth, verify=s.verify_certs, timeout=s.request_timeout_s)
        response.raise_for_status()
        info = response.json()
    except (httpx.HTTPError, ValueError) as exc:
        raise StoreError(f"cannot reach the search engine at {url}: {exc}", retryable=True) from exc
    version = info.get("version", {})
    if version.get("distribution") == "opensearch":
        return "opensearch"
    major = int(str(version.get("number", "0")).split(".")[0] or 0)
    if major and major < 8:
        raise StoreError(f"Elasticsearch {version.get('number')} is too old: Dragnet needs 8 or 9")
    check_es_client(major)
    return "elasticsearch"


def check_es_client(server_major: int) -> None:
    """elasticsearch-py N asks the server for API compatibility with N, which an N-1 server
    refuses; say so plainly instead of failing on the first request."""
    from importlib.metadata import version as installed

    client_major = int(installed("elasticsearch").split(".")[0])
    if server_major and client_major > server_major:
        raise StoreError(f"this Elasticsearch server is {server_major}.x but the installed client is "
                         f"elasticsearch-py {client_major}.x: install 'elasticsearch>={server_major}.13,<{server_major + 1}'")


def _status_of(exc: Exception) -> int | None:
    for attr in ("status_code", "status"):
        value = getattr(exc, attr, None)
        if isinstance(value, int):
            return value
    meta = getattr(exc, "meta", None)
    return getattr(meta, "status", None) if meta is not None else None


def _is_connection_error(exc: Exception) -> bool:
    names = {cls.__name__ for cls in type(exc).__mro__}
    return bool(names & {"ConnectionError", "ConnectionTimeout", "TransportError", "ConnectionRefusedError"}) \
        and _status_of(exc) in (None, "N/A")


class EngineStore(ListingStore):
    """Elasticsearch/OpenSearch behind the :class:`ListingStore` contract."""

    def __init__(self, client: EngineClient, settings: DragnetSettings) -> None:
        self.client = client
        self.settings = settings
        prefix = settings.search.index_prefix
        self.listings_alias = f"{prefix}-listings"
        self.versions_alias = f"{prefix}-versions"
        self.backend_name = client.flavour
        self._bulk_loading = False
        self._fast_versions: set[str] = set()  # monthly version indices switched to load settings
        self._fast_lock = threading.Lock()
        # share of new listings in the last chunk written: decides create-first or mget-first
        self._new_share = 1.0

    @classmethod
    def from_settings(cls, settings: DragnetSettings) -> "EngineStore":
        url = settings.search.url
        assert url is not None
        flavour = settings.search.backend
        if flavour not in ("opensearch", "elasticsearch"):
            flavour = detect_flavour(url, settings)
        return cls(EngineClient(flavour, url, settings), settings)  # type: ignore[arg-type]

    # -- error handling ---------------------------------------------------------------------
    def _call(self, what: str, fn: Callable[[], T]) -> T:
        """Run one engine call; connection problems and 429/5xx are retried with backoff, then
        raised as a retryable StoreError; other errors are raised as permanent."""
        attempts = self.settings.search.max_retries + 1
        delay = 0.2
        for attempt in range(attempts):
            try:
                return fn()
            except Exception as exc:  # noqa: BLE001 - classified below
                status = _status_of(exc)
                retryable = _is_connection_error(exc) or status in _RETRYABLE_STATUS
                if not retryable:
                    if status == 400 and what == "search":
                        raise QueryError(f"the search engine refused the query: {_reason(exc)}") from exc
                    raise StoreError(f"{what} failed: {_reason(exc)}") from exc
                if attempt + 1 >= attempts:
                    raise StoreError(f"{what} failed after {attempts} tries, search engine unavailable: {_reason(exc)}",
                                     retryable=True) from exc
                log.warning("%s: engine unavailable (%s), retry %d/%d in %.1fs", what, type(exc).__name__,
                            attempt + 1, attempts - 1, delay)
                time.sleep(delay)
                delay = min(delay * 2, 5.0)
        raise AssertionError("unreachable")

    # -- schema -------------------------------------------------------------------------------
    def _index_settings(self) -> dict[str, Any]:
        s = self.settings.search
        return {"number_of_shards": s.shards, "number_of_replicas": s.replicas, "refresh_interval": "1s"}

    def ensure_schema(self) -> None:
        prefix = self.settings.search.index_prefix
        self._call("put template", lambda: self.client.put_index_template(f"{prefix}-listings", {
            "index_patterns": [f"{prefix}-listings-*"], "priority": 100,
            "template": {"settings": self._index_settings(),
                         "mappings": {"dynamic": False, "properties": _LISTING_PROPERTIES}}}))
        self._call("put template", lambda: self.client.put_index_template(f"{prefix}-versions", {
            "index_patterns": [f"{prefix}-versions-*"], "priority": 100,
            "template": {"settings": self._index_settings(),
                         "mappings": {"dynamic": False, "properties": _VERSION_PROPERTIES},
                         "aliases": {self.versions_alias: {}}}}))
        if not self._call("alias exists", lambda: self.client.alias_exists(self.listings_alias)):
            name = f"{self.listings_alias}-{utcnow():%Y.%m.%d}"
            try:
                self.client.create_index(name, {"aliases": {self.listings_alias: {"is_write_index": True}}})
            except Exception as exc:  # noqa: BLE001
                if "resource_already_exists" not in str(exc):
                    self._call("create index", lambda: (_ for _ in ()).throw(exc))

    def drop(self) -> None:
        """Delete this prefix's indices and templates (tests, benchmarks)."""
        prefix = self.settings.search.index_prefix
        self._call("delete", lambda: self.client.delete_indices(f"{prefix}-listings-*,{prefix}-versions-*"))
        for name in (f"{prefix}-listings", f"{prefix}-versions"):
            self.client.delete_template(name)

    @contextlib.contextmanager
    def bulk_load(self) -> Iterator[None]:
        """Refresh off and asynchronous translog on the listing and version indices while a big
        load runs (Elasticsearch's and OpenSearch's own advice for initial loads); the previous
        settings come back, with a flush and a refresh, when the block ends."""
        targets = f"{self.listings_alias},{self.versions_alias}-*"
        normal = {"index": {"refresh_interval": self._index_settings()["refresh_interval"], "translog.durability": "request"}}
        self._call("settings", lambda: self.client.put_settings(targets, _LOAD_SETTINGS))
        self._bulk_loading, self._fast_versions = True, set()
        try:
            yield
        finally:
            self._bulk_loading = False
            self._call("settings", lambda: self.client.put_settings(targets, normal))
            self._call("flush", lambda: self.client.flush(targets))
            self.refresh()

    def _prepare_versions_indices(self, names: set[str]) -> None:
        """During a bulk load, a month's version index that does not exist yet is created here
        with the load settings: left to the template it would refresh every second and fsync
        every request for the rest of the load."""
        with self._fast_lock:
            for name in sorted(names - self._fast_versions):
                try:
                    self.client.create_index(name, {"settings": _LOAD_SETTINGS})
                except Exception as exc:  # noqa: BLE001 - it exists already: switch it instead
                    if "resource_already_exists" not in str(exc):
                        raise StoreError(f"create index {name} failed: {_reason(exc)}", retryable=True) from exc
                    self._call("settings", lambda: self.client.put_settings(name, _LOAD_SETTINGS))
                self._fast_versions.add(name)

    def refresh(self) -> None:
        self._call("refresh", lambda: self.client.refresh(f"{self.listings_alias},{self.versions_alias}*"))

    def close(self) -> None:
        self.client.close()

    # -- writes -------------------------------------------------------------------------------
    def _bulk(self, actions: list[tuple[bytes, bytes | None]]) -> list[tuple[int, dict[str, Any]]]:
        """Send (action, encoded source) pairs as one NDJSON body; retry the items the engine
        pushed back (429/5xx) with backoff; return (position, item result) for every action."""
        pending = list(range(len(actions)))
        results: dict[int, dict[str, Any]] = {}
        delay = 0.2
        for attempt in range(self.settings.search.max_retries + 1):
            body = _ndjson(actions[position] for position in pending)
            response = self._call("bulk", lambda: self.client.bulk(body))
            retry: list[int] = []
            for position, item in zip(pending, response["items"]):
                outcome = next(iter(item.values()))
                if outcome.get("status") in _RETRYABLE_STATUS:
                    retry.append(position)
                results[position] = outcome
            if not retry:
                break
            if attempt == self.settings.search.max_retries:
                raise StoreError(f"bulk: {len(retry)} documents still rejected after retries", retryable=True)
            log.warning("bulk: %d documents pushed back, retrying in %.1fs", len(retry), delay)
            time.sleep(delay)
            delay = min(delay * 2, 5.0)
            pending = retry
        return sorted(results.items())

    def _versions_index(self, listing: Listing) -> str:
        first = as_utc(listing.first_seen or listing.crawled_at)
        return f"{self.versions_alias}-{first:%Y.%m}"

    def upsert(self, listings: list[Listing]) -> BulkResult:
        """Write a batch.  Listings are split by id into up to ``bulk_concurrency`` parts sent
        side by side: no two parts share a listing, so their read-merge-write cycles cannot race,
        and the engine indexes one part while the client builds the next."""
        result = BulkResult()
        valid = []
        for listing in listings:
            if not listing.id or len(listing.doc_id.encode("utf-8")) > 512:
                result.failed.append((listing.id, "listing id empty or too long (the engine allows 512 bytes)"))
            else:
                valid.append(listing)
        s = self.settings.search
        parts = min(s.bulk_concurrency, -(-len(valid) // s.bulk_chunk_size))
        if parts <= 1:
            self._upsert_part(valid, result)
            return result
        groups: list[list[Listing]] = [[] for _ in range(parts)]
        for listing in valid:  # arrival order is kept inside each group
            groups[zlib.crc32(listing.id.encode("utf-8")) % parts].append(listing)
        with ThreadPoolExecutor(max_workers=parts, thread_name_prefix="dragnet-bulk") as pool:
            for part in pool.map(self._upsert_part, groups):
                result.written += part.written
                result.unchanged += part.unchanged
                result.failed.extend(part.failed)
        return result

    def _upsert_part(self, listings: list[Listing], result: BulkResult | None = None) -> BulkResult:
        result = result if result is not None else BulkResult()
        chunk = self.settings.search.bulk_chunk_size
        for start in range(0, len(listings), chunk):
            self._upsert_chunk(listings[start:start + chunk], result)
        return result

    def _upsert_chunk(self, listings: list[Listing], result: BulkResult) -> None:
        """Create-first while most listings arriving are new, then read-merge-write for the rest;
        listings another writer changed under the merge are merged again."""
        if not listings:
            return
        merge_first = self._new_share < _CREATE_FIRST_SHARE
        if not merge_first:
            distinct = len({listing.id for listing in listings})
            written_before = result.written
            listings = self._create_new(listings, result)
            self._new_share = (result.written - written_before) / distinct
        for attempt in range(_MERGE_ATTEMPTS):
            share, conflicted = self._merge_chunk(listings, result)
            if merge_first and attempt == 0:
                self._new_share = share
            if not conflicted:
                return
            listings = [listing for listing in listings if listing.id in conflicted]
            log.info("upsert: %d listing(s) changed by another writer during the merge, merging again", len(conflicted))
        # the writes are idempotent, so the caller's retry of the whole batch is safe
        raise StoreError(f"{len({listing.id for listing in listings})} listing(s) kept changing under "
                         f"{_MERGE_ATTEMPTS} merges: other writers are updating them", retryable=True)

    def _create_new(self, listings: list[Listing], result: BulkResult) -> list[Listing]:
        """Write each listing's first arrival in the chunk with ``op_type=create``, as the
        current document a new listing gets; return the listings still to merge: those the
        engine already holds (409) and later arrivals of the same id, in arrival order.

        A bulk load of new listings then costs one request per chunk instead of an ``mget``
        and a write (the lookup was about a tenth of the engine's CPU and a sixth of the
        client's), and two writers racing on the same new listing cannot overwrite each
        other: the second one's create answers 409 and it merges."""
        firsts: dict[str, int] = {}
        for position, listing in enumerate(listings):
            firsts.setdefault(listing.id, position)
        stored_at = utcnow().isoformat()
        body = [(_action("create", self.listings_alias, listing_id),
                 self._current_source(merge_with_existing(listings[position], None)[0], None,
                                      [listings[position].doc_id], 0, stored_at))
                for listing_id, position in firsts.items()]
        done: set[int] = set()
        order = list(firsts.values())
        for index, outcome in self._bulk(body):
            position = order[index]
            status = outcome.get("status")
            if status in (200, 201):
                result.written += 1
            elif status == 409:
                continue
            else:
                result.failed.append((listings[position].id, _item_reason(outcome)))
            done.add(position)
        return [listing for position, listing in enumerate(listings) if position not in done]

    def _merge_chunk(self, listings: list[Listing], result: BulkResult) -> tuple[float, set[str]]:
        """One read-merge-write cycle: ``mget`` of the current documents, the version creates
        when some content changed, then the new current documents.

        Copy-on-change history: a new listing, or one seen again with the same content, writes
        its current document only (one request after the ``mget``; a bulk load of new listings
        never touches the versions index).  When the content changes, the replaced content
        (with the time it was first stored) and the new content are created in the versions
        index first (a version that exists already answers 409: creating it is idempotent).
        The version count is the number of distinct contents, kept exact by ``dn.contents``,
        the content hashes the listing has had: reverted content is not counted twice, and
        content archived by a write that failed after the archive is counted on the retry.
        A listing whose version could not be written keeps its current document as it was and
        is reported failed: the retry finds the same replaced content, so no content is ever
        overwritten before it is archived.

        The current document is written only over the one that was read (``if_seq_no``; a
        listing read as absent is created): a listing another writer changed in between
        answers 409 and is returned for another merge, so concurrent indexers cannot lose
        each other's updates.  Returns the share of new listings and the ids to merge again."""
        if not listings:
            return 0.0, set()
        ids = list(dict.fromkeys(listing.id for listing in listings))
        docs = self._call("mget", lambda: self.client.mget(self.listings_alias, ids))
        new_share = sum(1 for doc in docs if not doc.get("found")) / len(docs)
        current: dict[str, Listing | None] = {}
        read_at: dict[str, tuple[int, int]] = {}  # listing id -> (seq_no, primary term) read
        since: dict[str, str] = {}  # listing id -> when its current content was first stored
        contents: dict[str, list[str]] = {}  # listing id -> content hashes it has had
        for doc in docs:
            found = doc.get("found")
            current[doc["_id"]] = _listing_from_source(doc["_source"]) if found else None
            if found:
                since[doc["_id"]] = _content_stored_at(doc["_source"])
                read_at[doc["_id"]] = (doc["_seq_no"], doc["_primary_term"])
                contents[doc["_id"]] = _contents_of(doc["_source"]) or [current[doc["_id"]].doc_id]  # type: ignore[union-attr]
        stored_at = utcnow().isoformat()
        merged: dict[str, Listing] = {}
        fresh: set[str] = set()  # listings first written by this chunk
        unchanged: dict[str, int] = {}
        new_contents: dict[str, int] = {}
        archive: list[tuple[bytes, bytes | None]] = []
        owners: list[str] = []  # listing id of each archive create
        archived: set[str] = set()
        version_indices: set[str] = set()
        seen_doc_ids: set[str] = set()
        for listing in listings:  # in arrival order: the same listing may come twice
            if listing.doc_id in seen_doc_ids:
                unchanged[listing.id] = unchanged.get(listing.id, 0) + 1
                continue
            seen_doc_ids.add(listing.doc_id)
            before = merged.get(listing.id, current.get(listing.id))
            merged[listing.id], _ = merge_with_existing(listing, before)
            if before is None:
                fresh.add(listing.id)
                since[listing.id] = stored_at
                contents[listing.id] = [listing.doc_id]
                continue
            if before.doc_id == listing.doc_id:
                unchanged[listing.id] = unchanged.get(listing.id, 0) + 1
                continue
            known = contents.setdefault(listing.id, [before.doc_id])
            if listing.doc_id in known:  # content it had before (reverted): archived already
                unchanged[listing.id] = unchanged.get(listing.id, 0) + 1
            else:
                known.append(listing.doc_id)
                new_contents[listing.id] = new_contents.get(listing.id, 0) + 1
            versions_index = self._versions_index(before)
            version_indices.add(versions_index)
            for version, when in ((before, since.get(listing.id, stored_at)), (listing, stored_at)):
                if version.doc_id not in archived:
                    archived.add(version.doc_id)
                    archive.append((_action("create", versions_index, version.doc_id), _version_source(version, when)))
                    owners.append(listing.id)
            if merged[listing.id].doc_id == listing.doc_id:
                since[listing.id] = stored_at
        refused: dict[str, str] = {}
        if archive:
            if self._bulk_loading:
                self._prepare_versions_indices(version_indices)
            for position, outcome in self._bulk(archive):
                if outcome.get("status", 0) not in (200, 201, 409):  # 409: archived already
                    refused.setdefault(owners[position], _item_reason(outcome))
        result.failed.extend(refused.items())
        order = [listing_id for listing_id in merged if listing_id not in refused]
        body = []
        for listing_id in order:
            source = self._current_source(merged[listing_id], current.get(listing_id), contents[listing_id],
                                          new_contents.get(listing_id, 0), since[listing_id])
            if listing_id in read_at:
                action = _action("index", self.listings_alias, listing_id, *read_at[listing_id])
            else:
                action = _action("create", self.listings_alias, listing_id)
            body.append((action, source))
        conflicted: set[str] = set()
        for position, outcome in self._bulk(body) if body else ():
            listing_id = order[position]
            if outcome.get("status") in (200, 201):
                result.written += new_contents.get(listing_id, 0) + (listing_id in fresh)
                result.unchanged += unchanged.get(listing_id, 0)
            elif outcome.get("status") == 409:
                conflicted.add(listing_id)
            else:
                result.failed.append((listing_id, _item_reason(outcome)))
        return new_share, conflicted

    @staticmethod
    def _current_source(listing: Listing, old: Listing | None, contents: list[str], new_contents: int,
                        content_stored_at: str) -> bytes:
        """The current document: the listing, its version count (distinct contents), and
        ``dn``, the derived filter/sort fields plus ``content_stored_at`` and ``contents`` (the
        last ``_MAX_CONTENTS`` content hashes, which the version count is checked against; spliced into
        pydantic's own JSON, which is several times faster than ``model_dump`` + ``json.dumps``
        and writes non-finite floats as null, not bare NaN)."""
        version = (old.version if old else 1) + new_contents
        if listing.version != version:
            listing = listing.model_copy(update={"version": version})
        flat = flat_fields(listing)
        dn = {k: flat[k] for k in ("vendor", "substance", "identifiers", "is_drug_sale", "score", "price_usd")}
        dn["seen_at"] = flat["seen_at"].isoformat()
        dn["content_stored_at"] = content_stored_at
        dn["contents"] = contents[-_MAX_CONTENTS:]
        return listing.model_dump_json().encode("utf-8")[:-1] + b',"dn":' + _dumps(dn) + b"}"

    # -- reads --------------------------------------------------------------------------------
    def get(self, listing_id: str) -> Listing | None:
        docs = self._call("get", lambda: self.client.mget(self.listings_alias, [listing_id]))
        return _listing_from_source(docs[0]["_source"]) if docs and docs[0].get("found") else None

    def history(self, listing_id: str) -> list[Listing]:
        """Every distinct content, oldest first: the archived versions, and the current
        document when its content has not been archived (a listing that never changed)."""
        body = {"query": {"term": {"listing_id": listing_id}}, "size": 1000,
                "sort": [{"stored_at": "asc"}, {"doc_id": "asc"}]}
        # the pattern, not the alias: a store whose listings never changed has no versions index
        response = self._call("history", lambda: self.client.search(f"{self.versions_alias}-*", body))
        versions = [(hit["_source"]["stored_at"], hit["_source"]["doc_id"], Listing.model_validate(hit["_source"]["listing"]))
                    for hit in response["hits"]["hits"]]
        docs = self._call("get", lambda: self.client.mget(self.listings_alias, [listing_id]))
        if docs and docs[0].get("found"):
            now = _listing_from_source(docs[0]["_source"])
            if now.doc_id not in {doc_id for _, doc_id, _ in versions}:
                versions.append((_content_stored_at(docs[0]["_source"]), now.doc_id, now))
        versions.sort(key=lambda item: (as_utc(datetime.fromisoformat(item[0])), item[1]))
        return [listing.model_copy(update={"version": number}) for number, (_, _, listing) in enumerate(versions, start=1)]

    def search(self, query: SearchQuery) -> SearchResult:
        body = build_search_body(query)
        response = self._call("search", lambda: self.client.search(self.listings_alias, body))
        hits = []
        for hit in response["hits"]["hits"]:
            highlights = {name: [safe_highlight(fragment) for fragment in fragments]
                          for name, fragments in (hit.get("highlight") or {}).items()}
            hits.append(SearchHit(listing=_listing_from_source(hit["_source"]), score=hit.get("_score"),
                                  highlights=highlights, sort_key=hit.get("sort")))
        facets: dict[str, list[FacetBucket]] = {}
        for name, agg in (response.get("aggregations") or {}).items():
            facets[name] = [FacetBucket(value=str(b.get("key_as_string", b["key"])), count=b["doc_count"])
                            for b in agg["buckets"]]
        next_after = hits[-1].sort_key if hits and len(hits) == query.size else None
        return SearchResult(total=response["hits"]["total"]["value"], hits=hits, facets=facets,
                            next_search_after=next_after)

    def count(self, query: SearchQuery | None = None) -> int:
        engine_query = build_query(query or SearchQuery())
        return self._call("count", lambda: self.client.count(self.listings_alias, engine_query))

    def date_histogram(self, query: SearchQuery, interval: Literal["day", "week", "month"] = "day") -> list[HistogramBucket]:
        body = {"query": build_query(query), "size": 0, "track_total_hits": False,
                "aggs": {"seen": {"date_histogram": {"field": "dn.seen_at", "calendar_interval": interval,
                                                     "min_doc_count": 0, "time_zone": "UTC"}}}}
        response = self._call("search", lambda: self.client.search(self.listings_alias, body))
        return [HistogramBucket(start=datetime.fromtimestamp(b["key"] / 1000, timezone.utc), count=b["doc_count"])
                for b in response["aggregations"]["seen"]["buckets"]]


def _dumps(value: Any) -> bytes:
    """Compact JSON by pydantic-core's serialiser (a third of ``json.dumps``'s time), with
    non-finite floats written as null: a hostile page's NaN price must not fail the batch."""
    return pydantic_core.to_json(value, inf_nan_mode="null")


def _contents_of(source: dict[str, Any]) -> list[str]:
    """The content hashes a current document has had (documents written before ``contents``
    existed know their current content only)."""
    known = (source.get("dn") or {}).get("contents")
    return [str(doc_id) for doc_id in known] if isinstance(known, list) else []


def _content_stored_at(source: dict[str, Any]) -> str:
    """When a current document's content was first stored (documents written before
    ``content_stored_at`` existed fall back to their crawl time; their versions are archived)."""
    value = (source.get("dn") or {}).get("content_stored_at")
    return str(value or source.get("crawled_at") or utcnow().isoformat())


def _version_source(listing: Listing, stored_at: str) -> bytes:
    head = f'{{"listing_id":{_quote(listing.id)},"doc_id":{_quote(listing.doc_id)},"stored_at":{_quote(stored_at)},"listing":'
    return head.encode("utf-8") + sanitize(listing).model_dump_json().encode("utf-8") + b"}"


def _action(op: str, index: str, doc_id: str, if_seq_no: int | None = None, if_primary_term: int | None = None) -> bytes:
    """One bulk action line, built by hand: json.dumps of a nested dict per document was a
    quarter of the client's time in a bulk load.  ``if_seq_no``/``if_primary_term`` make the
    write conditional on the document not having changed since it was read."""
    condition = "" if if_seq_no is None else f',"if_seq_no":{int(if_seq_no)},"if_primary_term":{int(if_primary_term or 0)}'
    return f'{{"{op}":{{"_index":{_quote(index)},"_id":{_quote(doc_id)}{condition}}}}}'.encode("utf-8")


def _ndjson(actions: Iterable[tuple[bytes, bytes | None]]) -> bytes:
    lines: list[bytes] = []
    for action, source in actions:
        lines.append(action)
        if source is not None:
            lines.append(source)
    lines.append(b"")
    return b"\n".join(lines)


def _listing_from_source(source: dict[str, Any]) -> Listing:
    source = {k: v for k, v in source.items() if k != "dn"}
    return Listing.model_validate(source)


def _item_reason(outcome: dict[str, Any]) -> str:
    error = outcome.get("error")
    if isinstance(error, dict):
        return f"{error.get('type', 'error')}: {error.get('reason', '')}"[:500]
    return str(error or f"status {outcome.get('status')}")[:500]


def _reason(exc: Exception) -> str:
    info = getattr(exc, "info", None) or getattr(exc, "body", None)
    if isinstance(info, dict) and isinstance(info.get("error"), dict):
        return f"{info['error'].get('type')}: {info['error'].get('reason')}"[:500]
    return f"{type(exc).__name__}: {exc}"[:500]
