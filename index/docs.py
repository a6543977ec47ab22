"""Derived fields that every backend indexes the same way, so filters, facets and sorting
agree between SQLite and the search engine."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from dragnet.documents import Listing
from index.entities import entity_keys, entity_text
from index.query import strip_sentinels
from index.store import SUBSTANCE_MIN_SCORE

MAX_TITLE_CHARS = 2_000
MAX_TEXT_CHARS = 200_000  # scraped pages are hostile; a multi-megabyte body is capped at the door


def as_utc(value: datetime) -> datetime:
    """Naive datetimes are taken as UTC (the crawlers stamp UTC)."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def seen_at(listing: Listing) -> datetime:
    """When a listing was last observed: what date filters, "newest" and histograms use."""
    return as_utc(listing.last_seen or listing.crawled_at)


def substances(listing: Listing) -> list[str]:
    if listing.classification is None:
        return []
    return sorted(name for name, score in listing.classification.substances.items() if score >= SUBSTANCE_MIN_SCORE)


def norm_pgp(fingerprint: str) -> str:
    return "".join(fingerprint.split()).upper()


def identifiers(listing: Listing) -> list[str]:
    """Keys that tie a seller across markets: PGP fingerprints, contact handles, crypto addresses."""
    keys: set[str] = set()
    fingerprints = list(listing.pgp_fingerprints)
    if listing.vendor is not None and listing.vendor.pgp_fingerprint:
        fingerprints.append(listing.vendor.pgp_fingerprint)
    keys.update(f"pgp:{norm_pgp(f)}" for f in fingerprints if f.strip())
    keys.update(
        f"contact:{c.kind.lower()}:{c.handle.strip().lstrip('@').lower()}" for c in listing.contacts if c.handle.strip()
    )
    keys.update(f"crypto:{c.chain.lower()}:{c.address.strip()}" for c in listing.crypto if c.address.strip())
    return sorted(keys)


def pgp_keys(listing: Listing) -> set[str]:
    """The PGP fingerprints a listing shows (its own and its vendor's), normalised."""
    fingerprints = list(listing.pgp_fingerprints)
    if listing.vendor is not None and listing.vendor.pgp_fingerprint:
        fingerprints.append(listing.vendor.pgp_fingerprint)
    return {norm_pgp(f) for f in fingerprints if f.strip()}


def pgp_changed(old: Listing, new: Listing) -> bool:
    """Whether ``new`` shows a PGP key that ``old`` (the version before) did not: a vendor's key
    that changes is what an analyst wants flagged; a key that merely disappears is not a new key."""
    return bool(pgp_keys(new) - pgp_keys(old))


def sanitize(listing: Listing) -> Listing:
    """Cap sizes and remove the highlight sentinels from scraped text before it is stored."""
    title = strip_sentinels(listing.title)[:MAX_TITLE_CHARS]
    text = strip_sentinels(listing.text)[:MAX_TEXT_CHARS]
    if title == listing.title and text == listing.text:
        return listing
    return listing.model_copy(update={"title": title, "text": text})


def flat_fields(listing: Listing) -> dict[str, Any]:
    """The filterable/sortable projection of a listing."""
    cls = listing.classification
    return {
        "id": listing.id,
        "doc_id": listing.doc_id,
        "market": listing.market,
        "platform": listing.platform,
        "vendor": listing.vendor.name if listing.vendor else None,
        "ships_from": listing.ships_from,
        "source_kind": listing.source_kind,
        "is_drug_sale": None if cls is None else cls.is_drug_sale,
        "score": None if cls is None else cls.score,
        "price_usd": listing.price.usd if listing.price else None,
        "seen_at": seen_at(listing),
        "substance": substances(listing),
        "intent": [cls.intent] if cls is not None and cls.intent else [],
        "identifiers": identifiers(listing),
        "flags": ["pgp_changed"] if listing.pgp_changed else [],
        "entities": entity_keys(listing),  # exact-match keys of the field syntax (index.entities)
        "entity_text": entity_text(listing),  # the same entities as words, for free text
    }


def merge_with_existing(new: Listing, old: Listing | None) -> tuple[Listing, bool]:
    """The current document after writing ``new`` over ``old``; the flag says whether ``new``
    is a content version not seen before.  first_seen never moves forward, last_seen never
    back, and an older crawl arriving late does not replace a newer current document."""
    new = sanitize(new)
    new_seen = seen_at(new)
    if old is None:
        first = as_utc(new.first_seen or new.crawled_at)
        return new.model_copy(update={"first_seen": min(first, new_seen), "last_seen": new_seen, "version": 1}), True
    new_version = old.content_sha256 != new.content_sha256
    old_seen = seen_at(old)
    first_candidates = [as_utc(d) for d in (old.first_seen, new.first_seen, old.crawled_at, new.crawled_at) if d]
    first = min(first_candidates)
    last = max(old_seen, new_seen)
    base = new if new_seen >= old_seen else old
    version = old.version + (1 if new_version else 0)
    updates: dict[str, Any] = {"first_seen": first, "last_seen": last, "version": version}
    earlier, later = (old, new) if base is new else (new, old)
    if old.pgp_changed or new.pgp_changed or (new_version and pgp_changed(earlier, later)):
        updates["pgp_changed"] = True
    if base is old and new.takedown is not None:
        updates["takedown"] = new.takedown
    return base.model_copy(update=updates), new_version
