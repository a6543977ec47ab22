"""Vendor pages: what a profile's ``vendor_page.fields`` read, turned into a vendor record.

The record is a plain JSON-able dict (the spider caches it per crawl and, with a shared
frontier, in Redis, so a fleet fetches each vendor page once); :func:`vendor_from_record`
makes the :class:`dragnet.documents.Vendor` of a listing from it.  Everything here is scraped,
hostile text: numbers are parsed, never evaluated; the key block is capped; a key that does not
parse is kept as text with no fingerprint.
"""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import quote, urljoin

from dragnet.documents import MAX_PGP_KEY_CHARS, Contact, Vendor
from extract.contacts import extract_contacts
from extract.pgp import extract_pgp_fingerprints, fingerprint_of_key

_KEY_BLOCK = re.compile(r"-----BEGIN PGP PUBLIC KEY BLOCK-----.*?(?:-----END PGP PUBLIC KEY BLOCK-----|\Z)", re.S)
_NUMBER = re.compile(r"\d{1,15}(?:[.,]\d{1,6})?")
_COUNT = re.compile(r"\d{1,3}(?:[,.\u00a0 ]\d{3})+(?!\d)|\d{1,15}")
MAX_TEXT = 512  # name, joined, each attribute value: a vendor page's words, not its essay


def template_url(template: str, vendor: str, site_url: str) -> str:
    """``/u/{vendor}`` filled with the URL-quoted vendor name, joined to the site of ``site_url``
    (a name such as ``a/b?c`` stays one path segment; it can never leave the path)."""
    return urljoin(site_url, template.replace("{vendor}", quote(vendor, safe="")))


def parse_rating(value: Any) -> float | None:
    """The first number of ``4.8/5``, ``98.5%``, ``4,9``: as written (no rescaling)."""
    match = _NUMBER.search(_text(value))
    return float(match.group(0).replace(",", ".")) if match else None


def parse_sales(value: Any) -> int | None:
    """The first whole number of ``1,234 sales``, ``(312)``, ``12 345``."""
    match = _COUNT.search(_text(value))
    return int(re.sub(r"\D", "", match.group(0))) if match else None


def parse_contacts(value: Any) -> list[Contact]:
    """Contacts written out as free text (``Telegram: @name``), each kept as kind + handle."""
    values = value if isinstance(value, list) else [value] if value else []
    found: list[Contact] = []
    for text in values:
        for contact in extract_contacts(str(text)[:2000]):
            if contact not in found:
                found.append(contact)
    return found


def parse_key(raw: list[str]) -> tuple[str | None, str | None]:
    """(armoured block text capped at 16 KiB, its fingerprint).  A block that does not parse is
    kept as text with no fingerprint; a page that writes only a fingerprint gives that."""
    text = "\n".join(raw).strip()
    if not text:
        return None, None
    block = _KEY_BLOCK.search(text)
    if block is not None:
        key = block.group(0)[:MAX_PGP_KEY_CHARS]
        return key, fingerprint_of_key(key)
    written = extract_pgp_fingerprints(text[:MAX_PGP_KEY_CHARS])
    return None, written[0] if written else None


def vendor_record(url: str, values: dict[str, Any], pgp_raw: list[str], attributes: dict[str, Any]) -> dict[str, Any]:
    """The record of one vendor page: ``values`` are what ``vendor_page.fields`` read (pgp aside,
    read raw because an armoured block needs its line breaks)."""
    key, fingerprint = parse_key(pgp_raw)
    return {
        "url": url,
        "name": _text(values.get("name"))[:MAX_TEXT] or None,
        "pgp_key": key,
        "pgp_fingerprint": fingerprint,
        "rating": parse_rating(values.get("rating")),
        "sales": parse_sales(values.get("sales")),
        "joined": _text(values.get("joined"))[:MAX_TEXT] or None,
        "contacts": [[c.kind, c.handle] for c in parse_contacts(values.get("contacts"))],
        "attributes": {k: _capped(v) for k, v in attributes.items() if v},
    }


def vendor_from_record(name: str | None, market: str, record: dict[str, Any] | None) -> Vendor | None:
    """The listing's vendor: its name from the listing (else from the vendor page), the rest from
    the page's record (``None``: no page read, or it failed)."""
    record = record or {}
    name = name or record.get("name")
    if not name:
        return None
    rating = record.get("rating")
    sales = record.get("sales")
    return Vendor(
        name=name,
        market=market,
        pgp_fingerprint=record.get("pgp_fingerprint"),
        pgp_key=record.get("pgp_key"),
        rating=rating if rating is not None and 0 <= rating <= 1e12 else None,
        sales=sales if sales is not None and 0 <= sales <= 10**12 else None,
        joined=record.get("joined"),
        contacts=[Contact(kind=k, handle=h) for k, h in record.get("contacts") or []],
        url=record.get("url"),
        attributes=record.get("attributes") or {},
    )


def dump_record(record: dict[str, Any]) -> str:
    return json.dumps(record, separators=(",", ":"))


def load_record(raw: bytes | str) -> dict[str, Any] | None:
    """A cached record; ``None`` for anything else (an older cache held bare fingerprints)."""
    try:
        value = json.loads(raw)
    except ValueError:
        return None
    return value if isinstance(value, dict) and "url" in value else None


def _text(value: Any) -> str:
    if isinstance(value, list):
        return " ".join(str(v) for v in value)
    return str(value) if value else ""


def _capped(value: Any) -> str | list[str]:
    if isinstance(value, list):
        return [str(v)[:MAX_TEXT] for v in value[:50]]
    return str(value)[:MAX_TEXT]
