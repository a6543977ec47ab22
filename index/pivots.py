"""Entity pivots: everything the store knows around one entity (a PGP key, a handle, a wallet,
an onion, a phone or a vendor name): the listings and posts carrying it, when it was first and
last seen, on which markets, under which vendor aliases, and which other entities appear on the
same listings, so an analyst can walk from one to the next."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from dragnet.documents import Listing
from index.docs import as_utc, seen_at
from index.entities import ENTITY_KINDS, entities_of, lookup_key, normalise
from index.store import ListingStore, QueryError, SearchQuery

MAX_LISTINGS = 2_000  # an entity on more listings is cut (``truncated``) rather than read whole
MAX_COOCCURRING = 200


class EntityRef(BaseModel):
    """Another entity, with the number of this entity's listings it appears on."""

    kind: str
    value: str
    label: str
    listings: int


class MarketCount(BaseModel):
    market: str
    listings: int


class AliasCount(BaseModel):
    name: str
    market: str | None = None
    listings: int


class EntityPivot(BaseModel):
    kind: str
    value: str = Field(description="normalised value (what the entity's URL holds)")
    labels: list[str] = Field(default_factory=list, description="the value as posted, each spelling once")
    total: int
    first_seen: datetime | None = None
    last_seen: datetime | None = None
    markets: list[MarketCount] = Field(default_factory=list)
    vendors: list[AliasCount] = Field(default_factory=list)
    cooccurring: list[EntityRef] = Field(default_factory=list)
    listings: list[Listing] = Field(default_factory=list, description="market listings, newest first")
    posts: list[Listing] = Field(default_factory=list, description="forum, social and channel posts, newest first")
    truncated: bool = False


def _same(kind: str, value: str, normal: str) -> bool:
    """Whether an entity of the listing is the one asked for (a handle asked without its
    platform, a fingerprint asked by its key id)."""
    if value == normal:
        return True
    if kind == "contact":
        return value.endswith(":" + normal)
    return kind == "pgp" and len(normal) == 16 and value.endswith(normal)


def pivot(store: ListingStore, kind: str, value: str) -> EntityPivot | None:
    """The pivot around ``kind:value`` (``value`` as typed: it is normalised here); None when no
    listing carries it; :class:`QueryError` for an unknown kind or an impossible value."""
    if kind not in ENTITY_KINDS:
        raise QueryError(f"unknown entity kind {kind!r}; known: {', '.join(ENTITY_KINDS)}")
    normal = normalise(kind, value)
    query = SearchQuery(entities=[lookup_key(kind, value)], sort="newest")
    total = store.count(query)
    if total == 0:
        return None
    found: list[Listing] = []
    for listing in store.scan(query):
        found.append(listing)
        if len(found) >= MAX_LISTINGS:
            break
    markets: dict[str, int] = {}
    vendors: dict[tuple[str, str | None], int] = {}
    others: dict[tuple[str, str], EntityRef] = {}
    labels: dict[str, None] = {}
    first: datetime | None = None
    last: datetime | None = None
    for listing in found:
        when = seen_at(listing)
        start = as_utc(listing.first_seen or when)
        first = min(first or start, start)
        last = max(last or when, when)
        where = listing.market or listing.platform
        if where:
            markets[where] = markets.get(where, 0) + 1
        if listing.vendor is not None and listing.vendor.name:
            alias = (listing.vendor.name, listing.vendor.market or listing.market)
            vendors[alias] = vendors.get(alias, 0) + 1
        for entity in entities_of(listing):
            if entity.kind == kind and _same(kind, entity.value, normal):
                labels.setdefault(entity.label, None)
                continue
            ref = others.get((entity.kind, entity.value))
            if ref is None:
                others[(entity.kind, entity.value)] = EntityRef(
                    kind=entity.kind, value=entity.value, label=entity.label, listings=1
                )
            else:
                ref.listings += 1
    ranked = sorted(others.values(), key=lambda r: (-r.listings, ENTITY_KINDS.index(r.kind), r.value))
    return EntityPivot(
        kind=kind,
        value=normal,
        labels=list(labels)[:20],
        total=total,
        first_seen=first,
        last_seen=last,
        markets=[MarketCount(market=m, listings=n) for m, n in sorted(markets.items(), key=lambda kv: (-kv[1], kv[0]))],
        vendors=[
            AliasCount(name=name, market=market, listings=n)
            for (name, market), n in sorted(vendors.items(), key=lambda kv: (-kv[1], kv[0][0], kv[0][1] or ""))
        ],
        cooccurring=ranked[:MAX_COOCCURRING],
        listings=[item for item in found if item.source_kind == "market"],
        posts=[item for item in found if item.source_kind != "market"],
        truncated=total > len(found),
    )
