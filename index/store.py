"""The store contract that every backend honours (embedded SQLite FTS5, OpenSearch,
Elasticsearch).  Workers, feeds, lifespan and the API depend on this module only; the same
contract tests run against each backend."""

from __future__ import annotations

import abc
import contextlib
from collections.abc import Iterator
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from dragnet.documents import Listing

SortOrder = Literal["relevance", "newest", "oldest", "price_asc", "price_desc", "score_desc"]
FACET_FIELDS: tuple[str, ...] = (
    "market",
    "platform",
    "vendor",
    "substance",
    "ships_from",
    "source_kind",
    "is_drug_sale",
    "intent",
)
SUBSTANCE_MIN_SCORE = 0.5  # a substance counts for filters and facets from this score up
MAX_QUERY_CHARS = 500


class StoreError(RuntimeError):
    """The store could not do what was asked; ``retryable`` says whether trying again may help
    (engine down, timeout, 429) or not (bad request, mapping conflict)."""

    def __init__(self, message: str, retryable: bool = False) -> None:
        super().__init__(message)
        self.retryable = retryable


class QueryError(ValueError):
    """A user's query was refused (unparseable, or it tried to smuggle engine DSL); the message is
    fit to show to the user."""


class SearchQuery(BaseModel):
    """What an analyst asks.  ``text`` is user text for a safe query parser, never engine DSL."""

    text: str = ""
    market: list[str] = Field(default_factory=list)
    platform: list[str] = Field(default_factory=list)
    vendor: list[str] = Field(default_factory=list)
    substance: list[str] = Field(default_factory=list)
    ships_from: list[str] = Field(default_factory=list)
    source_kind: list[str] = Field(default_factory=list)
    intent: list[str] = Field(default_factory=list)  # the verdict's intent (sell, buy, news, ...)
    identifiers: list[str] = Field(
        default_factory=list
    )  # "pgp:<fpr>", "contact:<kind>:<handle>", "crypto:<chain>:<addr>"
    ids: list[str] = Field(default_factory=list)  # restrict to these listing ids
    # entity and filter keys that must ALL be on a listing ("pgp:<FPR>", "contact:telegram:x",
    # "market:alpha": index.entities); the field syntax of ``text`` adds to them (index.fields)
    entities: list[str] = Field(default_factory=list, max_length=64)
    title_text: str = ""  # words searched in titles only (``title:`` in the query text)
    is_drug_sale: bool | None = None
    pgp_changed: bool | None = None  # listings that showed a new PGP key in a later version (or not)
    min_score: float | None = Field(default=None, ge=0, le=1)
    price_usd_min: float | None = Field(default=None, ge=0)
    price_usd_max: float | None = Field(default=None, ge=0)
    seen_from: datetime | None = None
    seen_to: datetime | None = None
    sort: SortOrder = "relevance"
    size: int = Field(default=20, ge=0, le=1000)
    search_after: list[Any] | None = None
    facets: bool = True
    highlight: bool = True


class SearchHit(BaseModel):
    """One hit.  ``highlights`` maps a field (title, text) to HTML-safe fragments: the scraped text
    is escaped first and only then are the matches wrapped in ``<mark>``, so a page may insert
    them as markup without trusting the scraped content."""

    listing: Listing
    score: float | None = None
    highlights: dict[str, list[str]] = Field(default_factory=dict)
    sort_key: list[Any] | None = None


class FacetBucket(BaseModel):
    value: str
    count: int


class SearchResult(BaseModel):
    total: int
    hits: list[SearchHit]
    facets: dict[str, list[FacetBucket]] = Field(default_factory=dict)
    next_search_after: list[Any] | None = None


class BulkResult(BaseModel):
    """Outcome of one bulk write; ``failed`` holds (listing id, reason) of documents that were not
    written and will not succeed on retry (retryable failures raise :class:`StoreError`)."""

    written: int = 0
    unchanged: int = 0
    failed: list[tuple[str, str]] = Field(default_factory=list)


HistogramSplit = Literal["substance", "market"]
HISTOGRAM_SPLIT_SIZE = 10  # values per bucket in a split histogram (the most frequent first)


class HistogramBucket(BaseModel):
    """Listings in one interval; ``split`` (asked for with ``split=``) counts them per value of a
    field, the :data:`HISTOGRAM_SPLIT_SIZE` most frequent ones (a listing with two substances
    counts under both, so the parts may add up to more than ``count``)."""

    start: datetime
    count: int
    split: dict[str, int] = Field(default_factory=dict)


class ListingStore(abc.ABC):
    """One interface, several backends.  Writes are idempotent: writing the same listing version
    (``Listing.doc_id``) twice leaves one document; a new content version of the same URL
    updates the listing and is kept in its history."""

    backend_name: str  # embedded, opensearch or elasticsearch

    @abc.abstractmethod
    def ensure_schema(self) -> None:
        """Create indices/templates/aliases or tables if missing; safe to call at every start."""

    @abc.abstractmethod
    def upsert(self, listings: list[Listing]) -> BulkResult:
        """Write listings (bulk)."""

    @abc.abstractmethod
    def get(self, listing_id: str) -> Listing | None:
        """The current version of a listing."""

    @abc.abstractmethod
    def history(self, listing_id: str) -> list[Listing]:
        """Every stored version of a listing, oldest first."""

    @abc.abstractmethod
    def search(self, query: SearchQuery) -> SearchResult:
        """Full text, filters, facets, highlights, sorting and ``search_after`` paging."""

    @abc.abstractmethod
    def count(self, query: SearchQuery | None = None) -> int:
        """How many listings match (all listings without a query)."""

    @abc.abstractmethod
    def date_histogram(
        self,
        query: SearchQuery,
        interval: Literal["day", "week", "month"] = "day",
        split: HistogramSplit | None = None,
    ) -> list[HistogramBucket]:
        """Listings per interval of ``last_seen``, each bucket split by ``split`` when asked."""

    def scan(self, query: SearchQuery | None = None, batch_size: int = 500) -> Iterator[Listing]:
        """Every matching listing (exports, vendor linking), paged with ``search_after`` so the
        memory used stays bounded whatever the result size."""
        base = (query or SearchQuery()).model_copy(
            update={
                "size": batch_size,
                "facets": False,
                "highlight": False,
                "search_after": None,
                "sort": (query.sort if query is not None and query.sort != "relevance" else "newest"),
            }
        )
        after: list[Any] | None = None
        while True:
            page = self.search(base.model_copy(update={"search_after": after}))
            for hit in page.hits:
                yield hit.listing
            if not page.hits or page.next_search_after is None or len(page.hits) < batch_size:
                return
            after = page.next_search_after

    def get_many(self, listing_ids: list[str]) -> list[Listing]:
        """Current versions of several listings (missing ids are left out)."""
        if not listing_ids:
            return []
        return list(self.scan(SearchQuery(ids=list(listing_ids))))

    @contextlib.contextmanager
    def bulk_load(self) -> Iterator[None]:
        """A large initial load or re-index: the backend may trade near-real-time visibility and
        per-request durability for throughput until the block ends (then everything is made
        durable and searchable).  Steady ingestion does not use it."""
        yield

    @abc.abstractmethod
    def refresh(self) -> None:
        """Make recent writes searchable now (tests and the demo; the engine does it on its own)."""

    @abc.abstractmethod
    def close(self) -> None:
        """Release connections."""

    def __enter__(self) -> ListingStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
