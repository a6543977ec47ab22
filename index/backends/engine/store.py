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
  title), ``price`` as ``double``, dates, the classification object, and ``dn.*``: the
  derived filter/sort fields shared with the embedded backend (:func:`index.docs.flat_fields`).

Writes are create-first while most arriving listings are new (``op_type=create`` of the new
current document; a 409 falls back to the read-merge-write with ``mget``), mget-first otherwise.
The merge's write is conditional on what it read (``if_seq_no``), so concurrent indexers merge
again instead of overwriting each other, and ``dn.contents`` keeps the version count exact.

Bulk writes: a chunk is sent as requests of at most ``search.bulk_max_bytes``; per-item failures
are split into retryable (429, 5xx: retried with exponential backoff) and permanent (reported in
``BulkResult.failed``); an engine that cannot be reached raises ``StoreError(retryable=True)``
after ``settings.search.max_retries`` tries.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
import zlib
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from functools import partial
from typing import Any, Literal, TypeVar

from dragnet.documents import Listing, utcnow
from dragnet.settings import DragnetSettings
from index.backends.engine.bulk import Action, action, item_reason, ndjson, split_by_bytes
from index.backends.engine.client import (
    RETRYABLE_STATUS,
    EngineClient,
    detect_engine,
    is_connection_error,
    reason_of,
    status_of,
)
from index.backends.engine.mappings import (
    ADDED_PROPERTIES,
    LOAD_SETTINGS,
    ilm_policy,
    index_settings,
    ism_policy,
    listings_template,
    versions_lifecycle_phases,
    versions_template,
)
from index.backends.engine.merge import (
    MergePlan,
    Stored,
    content_stored_at,
    current_source,
    listing_from_source,
    plan_merge,
    read_stored,
)
from index.backends.engine.query import build_query, build_search_body, histogram_body, history_body
from index.docs import as_utc, merge_with_existing
from index.query import safe_highlight
from index.store import (
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

log = logging.getLogger(__name__)
T = TypeVar("T")

# create-first pays off while at least this share of a chunk is new: a listing the engine holds
# already costs a refused create on top of the mget, a new one saves its lookup
_CREATE_FIRST_SHARE = 0.5
# merges of one chunk when other writers keep changing the same listings (409 on if_seq_no)
_MERGE_ATTEMPTS = 5


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
    def from_settings(cls, settings: DragnetSettings) -> EngineStore:
        url = settings.search.url
        assert url is not None
        flavour = settings.search.backend
        major = None
        if flavour not in ("opensearch", "elasticsearch"):
            flavour, major = detect_engine(url, settings)
        return cls(EngineClient(flavour, url, settings, server_major=major), settings)

    # -- error handling ---------------------------------------------------------------------
    def _call(self, what: str, fn: Callable[[], T]) -> T:
        """Run one engine call; connection problems and 429/5xx are retried with backoff, then
        raised as a retryable StoreError; other errors are raised as permanent."""
        attempts = self.settings.search.max_retries + 1
        delay = 0.2
        for attempt in range(attempts):
            try:
                return fn()
            except Exception as exc:
                status = status_of(exc)
                retryable = is_connection_error(exc) or status in RETRYABLE_STATUS
                if not retryable:
                    if status == 400 and what == "search":
                        raise QueryError(f"the search engine refused the query: {reason_of(exc)}") from exc
                    raise StoreError(f"{what} failed: {reason_of(exc)}") from exc
                if attempt + 1 >= attempts:
                    raise StoreError(
                        f"{what} failed after {attempts} tries, search engine unavailable: {reason_of(exc)}",
                        retryable=True,
                    ) from exc
                log.warning(
                    "%s: engine unavailable (%s), retry %d/%d in %.1fs",
                    what,
                    type(exc).__name__,
                    attempt + 1,
                    attempts - 1,
                    delay,
                )
                time.sleep(delay)
                delay = min(delay * 2, 5.0)
        raise AssertionError("unreachable")

    # -- schema -------------------------------------------------------------------------------
    def _index_settings(self) -> dict[str, Any]:
        return index_settings(self.settings.search.shards, self.settings.search.replicas)

    def ensure_schema(self) -> None:
        prefix = self.settings.search.index_prefix
        self._call(
            "put template",
            lambda: self.client.put_index_template(
                f"{prefix}-listings", listings_template(prefix, self._index_settings())
            ),
        )
        versions_settings = self._index_settings()
        policy = self._ensure_versions_lifecycle()
        if policy is not None:
            versions_settings |= self.client.lifecycle_index_settings(policy)
        self._call(
            "put template",
            lambda: self.client.put_index_template(
                f"{prefix}-versions", versions_template(prefix, versions_settings, self.versions_alias)
            ),
        )
        if not self._call("alias exists", lambda: self.client.alias_exists(self.listings_alias)):
            name = f"{self.listings_alias}-{utcnow():%Y.%m.%d}"
            try:
                self.client.create_index(name, {"aliases": {self.listings_alias: {"is_write_index": True}}})
            except Exception as exc:  # noqa: BLE001 - another writer may have created it first
                if "resource_already_exists" not in str(exc):
                    # classified (retryable or not) and retried like any other engine call
                    self._call(
                        "create index",
                        lambda: self.client.create_index(
                            name, {"aliases": {self.listings_alias: {"is_write_index": True}}}
                        ),
                    )
        else:  # indices made by an older mapping get the fields added since (dn.intent, ...)
            self._call("put mapping", lambda: self.client.put_mapping(self.listings_alias, ADDED_PROPERTIES))

    def _ensure_versions_lifecycle(self) -> str | None:
        """Create or update the lifecycle policy of the monthly version indices (ILM or ISM) and
        return its name, or None when it is turned off or the engine has no lifecycle management
        (said in the log).  A stored policy with the same fingerprint is left alone, so running
        this at every start changes nothing."""
        s = self.settings.search
        name = self.versions_alias
        if not s.versions_lifecycle:
            return None
        missing = self._call("lifecycle support", self.client.lifecycle_support)
        if missing is not None:
            level = logging.WARNING if s.versions_retention_days is not None else logging.INFO
            log.log(
                level,
                "no lifecycle policy for %s-*: %s (versions are kept until deleted by hand%s)",
                name,
                missing,
                "; search.versions_retention_days is NOT applied" if s.versions_retention_days is not None else "",
            )
            return None
        phases = versions_lifecycle_phases(s.versions_warm_after_days, s.versions_retention_days)
        if self.client.flavour == "elasticsearch":
            policy = ilm_policy(phases)
            wanted = policy["_meta"]["fingerprint"]
        else:
            policy = ism_policy(phases, f"{name}-*")
            wanted = self.client.policy_fingerprint("opensearch", {"policy": policy})
        stored = self._call("get lifecycle policy", lambda: self.client.get_lifecycle_policy(name))
        if stored is not None and self.client.policy_fingerprint(self.client.flavour, stored) == wanted:
            return name
        try:
            self._call("put lifecycle policy", lambda: self.client.put_lifecycle_policy(name, policy, stored))
        except StoreError as exc:
            cause = exc.__cause__
            if not isinstance(cause, Exception) or status_of(cause) not in (401, 403):
                raise
            log.warning("no lifecycle policy for %s-*: this user may not manage policies (%s)", name, exc)
            return None
        log.info("lifecycle policy %s %s: %s", name, "updated" if stored else "created", phases)
        return name

    def drop(self) -> None:
        """Delete this prefix's indices and templates (tests, benchmarks)."""
        prefix = self.settings.search.index_prefix
        self._call("delete", lambda: self.client.delete_indices(f"{prefix}-listings-*,{prefix}-versions-*"))
        for name in (f"{prefix}-listings", f"{prefix}-versions"):
            self.client.delete_template(name)
        if self._call("lifecycle support", self.client.lifecycle_support) is None:
            self._call("delete lifecycle policy", lambda: self.client.delete_lifecycle_policy(self.versions_alias))

    @contextlib.contextmanager
    def bulk_load(self) -> Iterator[None]:
        """Refresh off and asynchronous translog on the listing and version indices while a big
        load runs (Elasticsearch's and OpenSearch's own advice for initial loads); the previous
        settings come back, with a flush and a refresh, when the block ends."""
        targets = f"{self.listings_alias},{self.versions_alias}-*"
        normal = {
            "index": {"refresh_interval": self._index_settings()["refresh_interval"], "translog.durability": "request"}
        }
        self._call("settings", lambda: self.client.put_settings(targets, LOAD_SETTINGS))
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
                    self.client.create_index(name, {"settings": LOAD_SETTINGS})
                except Exception as exc:
                    if "resource_already_exists" not in str(exc):
                        raise StoreError(f"create index {name} failed: {reason_of(exc)}", retryable=True) from exc
                    self._call("settings", partial(self.client.put_settings, name, LOAD_SETTINGS))
                self._fast_versions.add(name)

    def refresh(self) -> None:
        self._call("refresh", lambda: self.client.refresh(f"{self.listings_alias},{self.versions_alias}*"))

    def close(self) -> None:
        self.client.close()

    # -- writes -------------------------------------------------------------------------------
    def _bulk(self, actions: list[Action]) -> list[tuple[int, dict[str, Any]]]:
        """Send (action, encoded source) pairs as NDJSON requests of at most
        ``search.bulk_max_bytes`` each; retry the items the engine pushed back (429/5xx) with
        backoff; return (position, item result) for every action, in order."""
        pending = list(range(len(actions)))
        results: dict[int, dict[str, Any]] = {}
        delay = 0.2
        max_bytes = self.settings.search.bulk_max_bytes
        for attempt in range(self.settings.search.max_retries + 1):
            retry: list[int] = []
            for group in split_by_bytes([actions[position] for position in pending], max_bytes):
                positions = [pending[index] for index in group]
                body = ndjson([actions[position] for position in positions])
                response = self._call("bulk", partial(self.client.bulk, body))
                for position, item in zip(positions, response["items"], strict=True):
                    outcome = next(iter(item.values()))
                    if outcome.get("status") in RETRYABLE_STATUS:
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
            self._upsert_chunk(listings[start : start + chunk], result)
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
        raise StoreError(
            f"{len({listing.id for listing in listings})} listing(s) kept changing under "
            f"{_MERGE_ATTEMPTS} merges: other writers are updating them",
            retryable=True,
        )

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
        body: list[Action] = [
            (
                action("create", self.listings_alias, listing_id),
                current_source(
                    merge_with_existing(listings[position], None)[0], None, [listings[position].doc_id], 0, stored_at
                ),
            )
            for listing_id, position in firsts.items()
        ]
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
                result.failed.append((listings[position].id, item_reason(outcome)))
            done.add(position)
        return [listing for position, listing in enumerate(listings) if position not in done]

    def _merge_chunk(self, listings: list[Listing], result: BulkResult) -> tuple[float, set[str]]:
        """One read-merge-write cycle (:mod:`index.backends.engine.merge`): read the current
        documents, plan the merge, archive the contents it replaces, write the merged current
        documents.  Returns the share of new listings and the ids to merge again.

        The current document is written only over the one that was read (``if_seq_no``; a
        listing read as absent is created): a listing another writer changed in between
        answers 409 and is returned for another merge, so concurrent indexers cannot lose
        each other's updates."""
        if not listings:
            return 0.0, set()
        stored = self._read(listings)
        plan = plan_merge(listings, stored, utcnow().isoformat(), self._versions_index)
        refused = self._archive(plan)
        result.failed.extend(refused.items())
        return stored.new_share, self._write_current(plan, stored, refused, result)

    def _read(self, listings: list[Listing]) -> Stored:
        ids = list(dict.fromkeys(listing.id for listing in listings))
        return read_stored(self._call("mget", lambda: self.client.mget(self.listings_alias, ids)))

    def _archive(self, plan: MergePlan) -> dict[str, str]:
        """Create the versions the plan archives; returns the listings whose archive the engine
        refused, with its reason (their current documents are left as they were)."""
        refused: dict[str, str] = {}
        if not plan.archive:
            return refused
        if self._bulk_loading:
            self._prepare_versions_indices(plan.version_indices)
        for position, outcome in self._bulk(plan.archive):
            if outcome.get("status", 0) not in (200, 201, 409):  # 409: archived already
                refused.setdefault(plan.owners[position], item_reason(outcome))
        return refused

    def _write_current(self, plan: MergePlan, stored: Stored, refused: dict[str, str], result: BulkResult) -> set[str]:
        """Write the merged current documents, each conditional on what was read; returns the
        ids another writer changed in between (409)."""
        order = [listing_id for listing_id in plan.merged if listing_id not in refused]
        body: list[Action] = []
        for listing_id in order:
            source = current_source(
                plan.merged[listing_id],
                stored.current.get(listing_id),
                plan.contents[listing_id],
                plan.new_contents.get(listing_id, 0),
                plan.since[listing_id],
            )
            if listing_id in stored.read_at:
                line = action("index", self.listings_alias, listing_id, *stored.read_at[listing_id])
            else:
                line = action("create", self.listings_alias, listing_id)
            body.append((line, source))
        conflicted: set[str] = set()
        for position, outcome in self._bulk(body) if body else ():
            listing_id = order[position]
            if outcome.get("status") in (200, 201):
                result.written += plan.new_contents.get(listing_id, 0) + (listing_id in plan.fresh)
                result.unchanged += plan.unchanged.get(listing_id, 0)
            elif outcome.get("status") == 409:
                conflicted.add(listing_id)
            else:
                result.failed.append((listing_id, item_reason(outcome)))
        return conflicted

    # -- reads --------------------------------------------------------------------------------
    def get(self, listing_id: str) -> Listing | None:
        docs = self._call("get", lambda: self.client.mget(self.listings_alias, [listing_id]))
        return listing_from_source(docs[0]["_source"]) if docs and docs[0].get("found") else None

    def history(self, listing_id: str) -> list[Listing]:
        """Every distinct content, oldest first: the archived versions, and the current
        document when its content has not been archived (a listing that never changed)."""
        body = history_body(listing_id)
        # the pattern, not the alias: a store whose listings never changed has no versions index
        response = self._call("history", lambda: self.client.search(f"{self.versions_alias}-*", body))
        versions = [
            (hit["_source"]["stored_at"], hit["_source"]["doc_id"], Listing.model_validate(hit["_source"]["listing"]))
            for hit in response["hits"]["hits"]
        ]
        docs = self._call("get", lambda: self.client.mget(self.listings_alias, [listing_id]))
        if docs and docs[0].get("found"):
            now = listing_from_source(docs[0]["_source"])
            if now.doc_id not in {doc_id for _, doc_id, _ in versions}:
                versions.append((content_stored_at(docs[0]["_source"]), now.doc_id, now))
        versions.sort(key=lambda item: (as_utc(datetime.fromisoformat(item[0])), item[1]))
        return [
            listing.model_copy(update={"version": number}) for number, (_, _, listing) in enumerate(versions, start=1)
        ]

    def search(self, query: SearchQuery) -> SearchResult:
        body = build_search_body(query)
        response = self._call("search", lambda: self.client.search(self.listings_alias, body))
        hits = []
        for hit in response["hits"]["hits"]:
            highlights = {
                name: [safe_highlight(fragment) for fragment in fragments]
                for name, fragments in (hit.get("highlight") or {}).items()
            }
            hits.append(
                SearchHit(
                    listing=listing_from_source(hit["_source"]),
                    score=hit.get("_score"),
                    highlights=highlights,
                    sort_key=hit.get("sort"),
                )
            )
        facets: dict[str, list[FacetBucket]] = {}
        for name, agg in (response.get("aggregations") or {}).items():
            facets[name] = [
                FacetBucket(value=str(b.get("key_as_string", b["key"])), count=b["doc_count"]) for b in agg["buckets"]
            ]
        next_after = hits[-1].sort_key if hits and len(hits) == query.size else None
        return SearchResult(
            total=response["hits"]["total"]["value"], hits=hits, facets=facets, next_search_after=next_after
        )

    def count(self, query: SearchQuery | None = None) -> int:
        engine_query = build_query(query or SearchQuery())
        return self._call("count", lambda: self.client.count(self.listings_alias, engine_query))

    def date_histogram(
        self,
        query: SearchQuery,
        interval: Literal["day", "week", "month"] = "day",
        split: HistogramSplit | None = None,
    ) -> list[HistogramBucket]:
        body = histogram_body(query, interval, split)
        response = self._call("search", lambda: self.client.search(self.listings_alias, body))
        return [
            HistogramBucket(
                start=datetime.fromtimestamp(b["key"] / 1000, UTC),
                count=b["doc_count"],
                split={
                    str(p["key_as_string"] if "key_as_string" in p else p["key"]): p["doc_count"]
                    for p in b.get("split", {}).get("buckets", [])
                },
            )
            for b in response["aggregations"]["seen"]["buckets"]
        ]
