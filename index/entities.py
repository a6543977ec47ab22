"""Entities: the people and infrastructure behind listings, as normalised keys every backend
indexes the same way.

An analyst asks about a vendor, a PGP key, a contact handle, a wallet, an onion address or a
phone number, written the way it was pasted: ``@Lion_Shop``, ``1a2b 3c4d ...``, ``0xABC...``.
One normaliser per kind turns both the listing's value and the analyst's value into the same key
(``pgp:<40 HEX>``, ``contact:telegram:lion_shop``, ...), so the lookup is an exact term match
on every backend.  The keys of a listing also carry its market, substances and intent
(``market:alpha``), so every ``field:value`` of the query syntax is one key to match.

Entities are derived at index time from what the crawler extracted onto the listing
(:mod:`extract` fills ``vendor``, ``pgp_fingerprints``, ``contacts``, ``crypto``) plus the onion
hosts mentioned in its text; nothing is stored on the listing itself."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from dragnet.documents import Listing
from extract.onion import onion_hosts_in
from index.store import SUBSTANCE_MIN_SCORE, QueryError

EntityKind = Literal["vendor", "pgp", "contact", "wallet", "onion", "phone"]
ENTITY_KINDS: tuple[EntityKind, ...] = ("vendor", "pgp", "contact", "wallet", "onion", "phone")
MAX_VALUE_CHARS = 256
MAX_KEYS = 400  # a hostile page with thousands of handles is capped, not indexed whole
_ONION_SCAN_CHARS = 200_000
_HEX = re.compile(r"[0-9A-F]+")
_PHONE_DIGITS = re.compile(r"\d{7,15}")
# messenger names an analyst may type for a contact's platform, folded to the extractor's kind
PLATFORM_ALIASES = {"tg": "telegram", "tele": "telegram", "wa": "whatsapp", "sc": "snapchat", "snap": "snapchat"}
_WORD = re.compile(r"[^\W_]+", re.UNICODE)


@dataclass(frozen=True)
class Entity:
    """One entity on a listing: ``kind``, its normalised ``value`` (what the entity page's URL
    holds) and the ``label`` shown to the analyst (as posted)."""

    kind: EntityKind
    value: str
    label: str

    @property
    def key(self) -> str:
        return f"{self.kind}:{self.value}"


def _collapse(value: str) -> str:
    return " ".join(value.split())


def norm_vendor(name: str) -> str:
    return _collapse(name).casefold()[:MAX_VALUE_CHARS]


def norm_pgp(value: str) -> str:
    """Upper-case hex without spaces or ``0x``; refuses what is not a fingerprint or key id."""
    fpr = "".join(value.split()).upper()
    fpr = fpr[2:] if fpr.startswith("0X") else fpr
    if not _HEX.fullmatch(fpr) or len(fpr) not in (16, 40):
        raise QueryError(f"a PGP fingerprint is 40 hex digits (or a 16-digit key id), not {value[:60]!r}")
    return fpr


def norm_handle(handle: str) -> str:
    return "".join(handle.split()).lstrip("@").casefold()[:MAX_VALUE_CHARS]


def norm_contact(value: str) -> str:
    """``telegram:@Lion`` -> ``telegram:lion``; ``@Lion`` (no platform) -> ``lion``."""
    kind, sep, handle = value.strip().partition(":")
    if not sep:
        return norm_handle(value)
    kind = kind.strip().casefold()
    kind = PLATFORM_ALIASES.get(kind, kind)
    if not kind.isalpha():
        return norm_handle(value)
    return f"{kind}:{norm_handle(handle)}"


def norm_wallet(address: str) -> str:
    """Bech32 and hex addresses are case-insensitive (lower-cased); base58 and Monero keep case."""
    address = "".join(address.split())
    if address.lower().startswith(("bc1", "ltc1", "0x", "tb1")):
        return address.lower()[:MAX_VALUE_CHARS]
    return address[:MAX_VALUE_CHARS]


def norm_onion(value: str) -> str:
    host = value.strip().casefold()
    host = re.sub(r"^[a-z]+://", "", host).split("/", 1)[0].split(":", 1)[0]
    return host if host.endswith(".onion") else f"{host}.onion"


def norm_phone(value: str) -> str:
    return re.sub(r"\D", "", value)[:20]


def normalise(kind: str, value: str) -> str:
    """The normalised value of an entity as an analyst typed it; :class:`QueryError` when it
    cannot be one (empty, or not a fingerprint)."""
    value = value.strip()
    if not value:
        raise QueryError(f"{kind}: needs a value")
    if len(value) > MAX_VALUE_CHARS:
        raise QueryError(f"{kind}: value too long (at most {MAX_VALUE_CHARS} characters)")
    if kind == "vendor":
        out = norm_vendor(value)
    elif kind == "pgp":
        out = norm_pgp(value)
    elif kind == "contact":
        out = norm_contact(value)
    elif kind == "wallet":
        out = norm_wallet(value)
    elif kind == "onion":
        out = norm_onion(value)
    elif kind == "phone":
        out = norm_phone(value)
        if not out:
            raise QueryError(f"a phone number needs digits, not {value[:60]!r}")
    elif kind in ("market", "substance", "intent", "category", "city", "district", "drop"):
        out = _collapse(value).casefold()
    else:
        raise QueryError(f"unknown entity kind {kind!r}; known: {', '.join(ENTITY_KINDS)}")
    if not out.strip(":"):
        raise QueryError(f"{kind}: needs a value")
    return out


def lookup_key(kind: str, value: str) -> str:
    """The indexed key an analyst's ``kind:value`` matches (a 16-digit PGP key id matches the
    ``pgpid:`` key every fingerprint is also indexed under)."""
    out = normalise(kind, value)
    if kind == "pgp" and len(out) == 16:
        return f"pgpid:{out}"
    return f"{kind}:{out}"


def entities_of(listing: Listing) -> list[Entity]:
    """Every entity on a listing, each once, in a stable order (kind, then value)."""
    found: dict[str, Entity] = {}

    def add(kind: EntityKind, value: str, label: str) -> None:
        if value and len(found) < MAX_KEYS:
            found.setdefault(f"{kind}:{value}", Entity(kind, value, label[:MAX_VALUE_CHARS]))

    if listing.vendor is not None and listing.vendor.name.strip():
        add("vendor", norm_vendor(listing.vendor.name), listing.vendor.name)
    fingerprints = list(listing.pgp_fingerprints)
    if listing.vendor is not None and listing.vendor.pgp_fingerprint:
        fingerprints.append(listing.vendor.pgp_fingerprint)
    for fpr in fingerprints:
        try:
            value = norm_pgp(fpr)
        except QueryError:
            continue
        if len(value) == 40:
            add("pgp", value, value)
    for contact in listing.contacts:
        handle = norm_handle(contact.handle)
        if not handle:
            continue
        kind = contact.kind.strip().casefold()
        add("contact", f"{kind}:{handle}", f"{contact.kind}: {contact.handle}")
        digits = norm_phone(contact.handle)
        if kind in ("whatsapp", "signal", "phone", "sms") and _PHONE_DIGITS.fullmatch(digits):
            add("phone", digits, contact.handle)
    for address in listing.crypto:
        wallet = norm_wallet(address.address)
        if wallet:
            add("wallet", wallet, f"{address.chain}: {address.address}")
    for host in onion_hosts_in(f"{listing.title}\n{listing.text[:_ONION_SCAN_CHARS]}"):
        add("onion", host, host)
    return sorted(found.values(), key=lambda e: (ENTITY_KINDS.index(e.kind), e.value))


def entity_keys(listing: Listing) -> list[str]:
    """The exact-match keys of a listing: its entities, the extra lookups of some kinds (a
    contact under its handle alone, a fingerprint under its 16-digit key id), and its market,
    substances and intent for the ``market:``/``substance:``/``intent:`` field syntax."""
    keys: set[str] = set()
    for entity in entities_of(listing):
        keys.add(entity.key)
        if entity.kind == "contact":
            keys.add(f"contact:{entity.value.split(':', 1)[1]}")
        elif entity.kind == "pgp":
            keys.add(f"pgpid:{entity.value[-16:]}")
    if listing.market:
        keys.add(f"market:{_collapse(listing.market).casefold()}")
    keys.update(_place_keys(listing))
    cls = listing.classification
    if cls is not None:
        keys.update(f"substance:{name}" for name, score in cls.substances.items() if score >= SUBSTANCE_MIN_SCORE)
        if cls.intent:
            keys.add(f"intent:{cls.intent}")
    return sorted(keys)


def _place_keys(listing: Listing) -> set[str]:
    """``category:``, ``city:``, ``district:`` and ``drop:`` (one per drop type: the profile joins
    several with ", ") as a market's profile read them, for the field syntax."""
    values: list[tuple[str, str | None]] = [("category", listing.category)]
    if listing.location is not None:
        values += [("city", listing.location.city), ("district", listing.location.district)]
        values += [("drop", part) for part in (listing.location.drop_type or "").split(",")]
    return {f"{kind}:{_collapse(value).casefold()}" for kind, value in values if value and value.strip()}


def entity_text(listing: Listing) -> str:
    """The entities as words for free-text search: a vendor's name, a handle or a fingerprint
    that is not in the posted text is still found by typing it.  Split into words as the query
    parser splits them, so ``lion_shop`` or ``abc.onion`` tokenise alike on every backend."""
    words: list[str] = []
    for entity in entities_of(listing):
        value = entity.value.split(":", 1)[1] if entity.kind == "contact" else entity.value
        words.extend(_WORD.findall(value))
        if entity.kind == "pgp":
            words.append(value[-16:])  # the long key id, as vendors often write it
    return " ".join(words)[:20_000]
