"""Vendor entities: one seller behind several names on several markets.

Two vendor aliases (name on a market) are the same entity when their listings share a PGP
fingerprint, a contact handle or a crypto address (:func:`index.docs.identifiers`).  Linking
is a bounded breadth-first walk over the store: listings of the aliases -> their identifiers
-> listings carrying those identifiers -> new aliases, until nothing new appears (or the caps
are hit, which the entity reports).  Every link keeps the identifier that made it, so an
analyst can see *why* two names were joined."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from dragnet.documents import Listing
from index.backends.embedded import bucket_start, fill_histogram
from index.docs import identifiers, seen_at
from index.store import HistogramBucket, ListingStore, SearchQuery

MAX_ROUNDS = 4
MAX_LISTINGS = 5_000
# A handle or address seen on more than this many aliases is probably not one seller's (a
# market's escrow wallet, a template's placeholder); it is reported but does not link.
MAX_ALIASES_PER_IDENTIFIER = 25


class VendorAlias(BaseModel):
    name: str
    market: str | None = None
    listings: int = 0
    first_seen: datetime | None = None
    last_seen: datetime | None = None


class VendorLink(BaseModel):
    """``a`` and ``b`` (``name@market``) share ``identifier``."""

    a: str
    b: str
    identifier: str


class VendorEntity(BaseModel):
    name: str
    market: str | None = None
    aliases: list[VendorAlias] = Field(default_factory=list)
    identifiers: list[str] = Field(default_factory=list)
    ignored_identifiers: list[str] = Field(default_factory=list)
    links: list[VendorLink] = Field(default_factory=list)
    listings: list[Listing] = Field(default_factory=list)  # newest first
    timeline: list[HistogramBucket] = Field(default_factory=list)
    truncated: bool = False


def alias_key(name: str, market: str | None) -> str:
    return f"{name}@{market or '-'}"


def _alias_of(listing: Listing) -> tuple[str, str | None] | None:
    if listing.vendor is None or not listing.vendor.name:
        return None
    return listing.vendor.name, listing.vendor.market or listing.market


def resolve_vendor(
    store: ListingStore, name: str, market: str | None = None, interval: Literal["day", "week", "month"] = "week"
) -> VendorEntity | None:
    """The entity around vendor ``name`` (on ``market``, or on any market when None)."""
    listings: dict[str, Listing] = {}
    aliases: set[tuple[str, str | None]] = set()
    known_ids: set[str] = set()
    ignored: set[str] = set()
    truncated = False

    def add(batch: list[Listing]) -> None:
        nonlocal truncated
        for listing in batch:
            if len(listings) >= MAX_LISTINGS:
                truncated = True
                return
            listings.setdefault(listing.id, listing)

    start = SearchQuery(vendor=[name], market=[market] if market else [])
    add(list(store.scan(start)))
    if not listings:
        return None
    aliases.update(a for a in map(_alias_of, listings.values()) if a and a[0] == name)

    for _ in range(MAX_ROUNDS):
        new_ids = (
            {key for listing in listings.values() if _alias_of(listing) in aliases for key in identifiers(listing)}
            - known_ids
            - ignored
        )
        if not new_ids:
            break
        found = list(store.scan(SearchQuery(identifiers=sorted(new_ids))))
        by_identifier: dict[str, set[tuple[str, str | None]]] = {}
        for listing in found:
            alias = _alias_of(listing)
            for key in set(identifiers(listing)) & new_ids:
                if alias:
                    by_identifier.setdefault(key, set()).add(alias)
        for key in new_ids:
            if len(by_identifier.get(key, ())) > MAX_ALIASES_PER_IDENTIFIER:
                ignored.add(key)
            else:
                known_ids.add(key)
        linked = {alias for key, owners in by_identifier.items() if key in known_ids for alias in owners}
        fresh = linked - aliases
        add([item for item in found if set(identifiers(item)) & known_ids])
        if not fresh:
            break
        aliases |= fresh
        for alias_name, alias_market in fresh:
            add(list(store.scan(SearchQuery(vendor=[alias_name], market=[alias_market] if alias_market else []))))
    else:
        truncated = True

    return _build(name, market, listings, aliases, known_ids, ignored, truncated, interval)


def _build(
    name: str,
    market: str | None,
    listings: dict[str, Listing],
    aliases: set[tuple[str, str | None]],
    known_ids: set[str],
    ignored: set[str],
    truncated: bool,
    interval: str,
) -> VendorEntity:
    stats: dict[tuple[str, str | None], VendorAlias] = {a: VendorAlias(name=a[0], market=a[1]) for a in aliases}
    owners: dict[str, set[str]] = {}
    counts: dict[datetime, int] = {}
    for listing in listings.values():
        when = seen_at(listing)
        counts[bucket_start(when, interval)] = counts.get(bucket_start(when, interval), 0) + 1
        alias = _alias_of(listing)
        if alias in stats:
            entry = stats[alias]
            entry.listings += 1
            first = listing.first_seen or when
            entry.first_seen = min(entry.first_seen or first, first)
            entry.last_seen = max(entry.last_seen or when, when)
        for key in identifiers(listing):
            if key in known_ids:
                owners.setdefault(key, set()).add(alias_key(*alias) if alias else f"listing:{listing.id}")
    links: list[VendorLink] = []
    for key, who in sorted(owners.items()):
        ordered = sorted(who)
        links.extend(VendorLink(a=ordered[0], b=other, identifier=key) for other in ordered[1:])
    ordered_aliases = sorted(stats.values(), key=lambda a: (a.name != name or a.market != market, -a.listings, a.name))
    return VendorEntity(
        name=name,
        market=market,
        aliases=ordered_aliases,
        identifiers=sorted(known_ids),
        ignored_identifiers=sorted(ignored),
        links=links,
        listings=sorted(listings.values(), key=seen_at, reverse=True),
        timeline=fill_histogram(counts, interval),
        truncated=truncated,
    )
