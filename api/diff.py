"""What changed between consecutive versions of a listing: price, shipping, contacts, PGP keys,
crypto addresses, title and text, as removed/added values (and a word diff of the text), so
that the listing page can show "€300.93 -> €361.18" instead of two content hashes.

Values are plain strings: the template escapes them and marks them with ``<del>``/``<ins>``
plus a word (removed/added), never with colour alone."""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from datetime import datetime

from dragnet.documents import Listing, Price
from index.docs import pgp_keys

MAX_TEXT_WORDS = 4_000  # words of each version compared (scraped pages are capped anyway)
MAX_TEXT_SEGMENTS = 200
SYMBOLS = {"EUR": "€", "USD": "$", "GBP": "£"}


def price_label(price: Price | None) -> str | None:
    """A price as an analyst reads it: ``€300.93`` (the page's own currency), else ``300 XMR``."""
    if price is None:
        return None
    symbol = SYMBOLS.get(price.currency.upper())
    return f"{symbol}{price.amount:,.2f}" if symbol else f"{price.amount:g} {price.currency}"


@dataclass
class FieldChange:
    label: str
    removed: list[str]
    added: list[str]


@dataclass
class TextPart:
    op: str  # same, del, ins
    text: str


@dataclass
class VersionDiff:
    version: int
    crawled_at: datetime
    content_sha256: str
    changes: list[FieldChange] = field(default_factory=list)
    text: list[TextPart] = field(default_factory=list)
    pgp_changed: bool = False


def _values(listing: Listing) -> dict[str, list[str]]:
    return {
        "Title": [listing.title] if listing.title else [],
        "Price": [p] if (p := price_label(listing.price)) else [],
        "Ships from": [listing.ships_from] if listing.ships_from else [],
        "Ships to": list(listing.ships_to),
        "Contacts": [f"{c.kind}: {c.handle}" for c in listing.contacts],
        "PGP keys": sorted(pgp_keys(listing)),
        "Crypto": [f"{c.chain}: {c.address}" for c in listing.crypto],
        "Vendor": [listing.vendor.name] if listing.vendor and listing.vendor.name else [],
    }


def _text_diff(old: str, new: str) -> list[TextPart]:
    """A word diff of two texts; runs of unchanged words are kept short (their ends only)."""
    a, b = old.split()[:MAX_TEXT_WORDS], new.split()[:MAX_TEXT_WORDS]
    parts: list[TextPart] = []
    for op, i1, i2, j1, j2 in difflib.SequenceMatcher(a=a, b=b, autojunk=False).get_opcodes():
        if op == "equal":
            words = a[i1:i2]
            text = " ".join(words) if len(words) <= 12 else " ".join(words[:5]) + " … " + " ".join(words[-5:])
            parts.append(TextPart("same", text))
            continue
        if i2 > i1:
            parts.append(TextPart("del", " ".join(a[i1:i2])))
        if j2 > j1:
            parts.append(TextPart("ins", " ".join(b[j1:j2])))
    return parts[:MAX_TEXT_SEGMENTS]


def version_diffs(history: list[Listing]) -> list[VersionDiff]:
    """Each version after the first against the one before it, newest first."""
    out = []
    for before, after in zip(history, history[1:], strict=False):
        old, new = _values(before), _values(after)
        diff = VersionDiff(after.version, after.crawled_at, after.content_sha256)
        for label, values in new.items():
            removed = [v for v in old[label] if v not in values]
            added = [v for v in values if v not in old[label]]
            if removed or added:
                diff.changes.append(FieldChange(label, removed, added))
        diff.pgp_changed = bool(set(new["PGP keys"]) - set(old["PGP keys"]))
        if before.text != after.text:
            diff.text = _text_diff(before.text, after.text)
        out.append(diff)
    return out[::-1]


__all__ = ["FieldChange", "TextPart", "VersionDiff", "price_label", "version_diffs"]
