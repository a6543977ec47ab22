"""A case as a file a partner or a court can take away: every listing's text and entities, the
hashes that tie it to the archived evidence, and the case's trail of who added what, when.

Why the WARC record is hashed here: the listing's ``content_sha256`` covers the extracted text;
the record's own SHA-256 lets a receiver check the archived page they download from the WARC
link byte for byte.  CSV cells go through :mod:`dragnet.csvsafe` (scraped text must never become
a spreadsheet formula); the CSV has one ``record`` column saying whether a row is a listing, a
note or an event of the trail, so it stays one table."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from typing import Any

from api.cases import Case
from api.evidence import warc_record_bytes
from dragnet.csvsafe import csv_line
from dragnet.documents import Listing
from dragnet.settings import DragnetSettings
from index.store import ListingStore

MAX_TEXT_CHARS = 32_000  # a spreadsheet cell holds 32,767 characters

CSV_COLUMNS = (
    "record",
    "case_id",
    "listing_id",
    "title",
    "market",
    "platform",
    "vendor",
    "url",
    "text",
    "contacts",
    "wallets",
    "pgp_fingerprints",
    "content_sha256",
    "screenshot_sha256",
    "warc_record_id",
    "warc_file",
    "warc_record_sha256",
    "warc_link",
    "added_by",
    "added_at",
    "at",
    "who",
    "action",
    "detail",
)


def entities(listing: Listing) -> dict[str, list[str]]:
    """The identifiers a listing names: contacts, wallets and PGP fingerprints (the vendor's too)."""
    pgp = list(listing.pgp_fingerprints)
    if listing.vendor and listing.vendor.pgp_fingerprint and listing.vendor.pgp_fingerprint not in pgp:
        pgp.append(listing.vendor.pgp_fingerprint)
    return {
        "contacts": [f"{c.kind}:{c.handle}" for c in listing.contacts],
        "wallets": [f"{w.chain}:{w.address}" for w in listing.crypto],
        "pgp_fingerprints": pgp,
    }


def evidence(listing: Listing, settings: DragnetSettings) -> dict[str, str | None]:
    record = warc_record_bytes(listing, settings)
    return {
        "content_sha256": listing.content_sha256,
        "screenshot_sha256": listing.screenshot_sha256,
        "warc_record_id": listing.snapshot.record_id if listing.snapshot else None,
        "warc_file": listing.snapshot.warc_file.rsplit("/", 1)[-1] if listing.snapshot else None,
        "warc_record_sha256": hashlib.sha256(record).hexdigest() if record is not None else None,
        "warc_link": f"/api/listings/{listing.id}/warc" if record is not None else None,
    }


def case_document(case: Case, store: ListingStore, settings: DragnetSettings) -> dict[str, Any]:
    """The case as one JSON-ready document."""
    listings: list[dict[str, Any]] = []
    for entry in case.listings:
        listing = store.get(entry.listing_id)
        item: dict[str, Any] = {
            "listing_id": entry.listing_id,
            "added_by": entry.added_by,
            "added_at": entry.added_at.isoformat(),
        }
        if listing is None:
            item["missing"] = True  # gone from the store since it was added
        else:
            item.update(
                title=listing.title,
                text=listing.text,
                url=listing.url,
                market=listing.market,
                platform=listing.platform,
                vendor=listing.vendor.name if listing.vendor else None,
                entities=entities(listing),
                evidence=evidence(listing, settings),
            )
        listings.append(item)
    return {
        "case": case.model_dump(mode="json", exclude={"listings", "notes", "events"}),
        "listings": listings,
        "notes": [note.model_dump(mode="json") for note in case.notes],
        "audit_trail": [event.model_dump(mode="json") for event in case.events],
    }


def case_csv(document: dict[str, Any]) -> Iterator[str]:
    """The document of :func:`case_document` as safe CSV lines, header first."""
    case_id = document["case"]["id"]
    yield csv_line(CSV_COLUMNS)
    for item in document["listings"]:
        entities_of = item.get("entities") or {}
        proof = item.get("evidence") or {}
        row: dict[str, Any] = {
            "record": "missing_listing" if item.get("missing") else "listing",
            "case_id": case_id,
            "listing_id": item["listing_id"],
            "title": item.get("title"),
            "market": item.get("market"),
            "platform": item.get("platform"),
            "vendor": item.get("vendor"),
            "url": item.get("url"),
            "text": (item.get("text") or "")[:MAX_TEXT_CHARS],
            "contacts": ";".join(entities_of.get("contacts", [])),
            "wallets": ";".join(entities_of.get("wallets", [])),
            "pgp_fingerprints": ";".join(entities_of.get("pgp_fingerprints", [])),
            **{key: proof.get(key) for key in CSV_COLUMNS if key in proof},
            "added_by": item["added_by"],
            "added_at": item["added_at"],
        }
        yield csv_line(row.get(column) for column in CSV_COLUMNS)
    for note in document["notes"]:
        row = {"record": "note", "case_id": case_id, "at": note["at"], "who": note["author"], "detail": note["text"]}
        yield csv_line(row.get(column) for column in CSV_COLUMNS)
    for event in document["audit_trail"]:
        row = {
            "record": "event",
            "case_id": case_id,
            "listing_id": event.get("listing_id"),
            "at": event["at"],
            "who": event["who"],
            "action": event["action"],
            "detail": event.get("detail"),
        }
        yield csv_line(row.get(column) for column in CSV_COLUMNS)
