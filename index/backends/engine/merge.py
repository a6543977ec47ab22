"""The read-merge-write of the engine backend, as pure steps: what the ``mget`` read
(:func:`read_stored`), what to archive and write (:func:`plan_merge`), and the current
document's source (:func:`current_source`).  The store does the requests in between.

Copy-on-change history: a new listing, or one seen again with the same content, writes its
current document only (a bulk load of new listings never touches the versions index).  When the
content changes, the replaced content (with the time it was first stored) and the new content
are created in the versions index first; a version that exists already answers 409, so creating
it is idempotent.  The version count is the number of distinct contents, kept exact by
``dn.contents``, the content hashes the listing has had: reverted content is not counted twice,
and content archived by a write that failed after the archive is counted on the retry.  A
listing whose version could not be written keeps its current document as it was and is reported
failed: the retry finds the same replaced content, so no content is ever overwritten before it
is archived."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from dragnet.documents import Listing, utcnow
from index.backends.engine.bulk import Action, action, dumps, version_source
from index.docs import flat_fields, merge_with_existing
from index.folding import folded_copy

# content hashes kept on a current document for its version count; a listing that changed more
# often than this counts a return to a content older than the last this many as a new version
MAX_CONTENTS = 1_000


def listing_from_source(source: dict[str, Any]) -> Listing:
    return Listing.model_validate({k: v for k, v in source.items() if k != "dn"})


def contents_of(source: dict[str, Any]) -> list[str]:
    """The content hashes a current document has had (documents written before ``contents``
    existed know their current content only)."""
    known = (source.get("dn") or {}).get("contents")
    return [str(doc_id) for doc_id in known] if isinstance(known, list) else []


def content_stored_at(source: dict[str, Any]) -> str:
    """When a current document's content was first stored (documents written before
    ``content_stored_at`` existed fall back to their crawl time; their versions are archived)."""
    value = (source.get("dn") or {}).get("content_stored_at")
    return str(value or source.get("crawled_at") or utcnow().isoformat())


@dataclass
class Stored:
    """The current documents an ``mget`` found, and what the merge needs of each."""

    current: dict[str, Listing | None] = field(default_factory=dict)
    read_at: dict[str, tuple[int, int]] = field(default_factory=dict)  # id -> (seq_no, primary term)
    since: dict[str, str] = field(default_factory=dict)  # id -> when its current content was first stored
    contents: dict[str, list[str]] = field(default_factory=dict)  # id -> content hashes it has had
    new_share: float = 0.0  # share of the ids read that the engine does not hold


def read_stored(docs: list[dict[str, Any]]) -> Stored:
    stored = Stored()
    for doc in docs:
        listing_id = doc["_id"]
        if not doc.get("found"):
            stored.current[listing_id] = None
            continue
        listing = listing_from_source(doc["_source"])
        stored.current[listing_id] = listing
        stored.since[listing_id] = content_stored_at(doc["_source"])
        stored.read_at[listing_id] = (doc["_seq_no"], doc["_primary_term"])
        stored.contents[listing_id] = contents_of(doc["_source"]) or [listing.doc_id]
    stored.new_share = sum(1 for listing in stored.current.values() if listing is None) / max(1, len(docs))
    return stored


@dataclass
class MergePlan:
    """What one chunk writes: the version creates (``archive``, each owned by a listing id) and
    the merged current documents, with the counts the result reports."""

    merged: dict[str, Listing] = field(default_factory=dict)
    fresh: set[str] = field(default_factory=set)  # listings first written by this chunk
    unchanged: dict[str, int] = field(default_factory=dict)
    new_contents: dict[str, int] = field(default_factory=dict)
    archive: list[Action] = field(default_factory=list)
    owners: list[str] = field(default_factory=list)  # listing id of each archive create
    version_indices: set[str] = field(default_factory=set)
    since: dict[str, str] = field(default_factory=dict)
    contents: dict[str, list[str]] = field(default_factory=dict)


def plan_merge(
    listings: Iterable[Listing], stored: Stored, stored_at: str, versions_index: Callable[[Listing], str]
) -> MergePlan:
    """Merge each arriving listing (in arrival order: the same listing may come twice) into what
    is stored, and decide which contents to archive."""
    plan = MergePlan(since=dict(stored.since), contents={k: list(v) for k, v in stored.contents.items()})
    archived: set[str] = set()
    seen_doc_ids: set[str] = set()
    for listing in listings:
        if listing.doc_id in seen_doc_ids:
            plan.unchanged[listing.id] = plan.unchanged.get(listing.id, 0) + 1
            continue
        seen_doc_ids.add(listing.doc_id)
        before = plan.merged.get(listing.id, stored.current.get(listing.id))
        plan.merged[listing.id], _ = merge_with_existing(listing, before)
        if before is None:
            plan.fresh.add(listing.id)
            plan.since[listing.id] = stored_at
            plan.contents[listing.id] = [listing.doc_id]
            continue
        if before.doc_id == listing.doc_id:
            plan.unchanged[listing.id] = plan.unchanged.get(listing.id, 0) + 1
            continue
        known = plan.contents.setdefault(listing.id, [before.doc_id])
        if listing.doc_id in known:  # content it had before (reverted): archived already
            plan.unchanged[listing.id] = plan.unchanged.get(listing.id, 0) + 1
        else:
            known.append(listing.doc_id)
            plan.new_contents[listing.id] = plan.new_contents.get(listing.id, 0) + 1
        index = versions_index(before)
        plan.version_indices.add(index)
        for version, when in ((before, plan.since.get(listing.id, stored_at)), (listing, stored_at)):
            if version.doc_id not in archived:
                archived.add(version.doc_id)
                plan.archive.append((action("create", index, version.doc_id), version_source(version, when)))
                plan.owners.append(listing.id)
        if plan.merged[listing.id].doc_id == listing.doc_id:
            plan.since[listing.id] = stored_at
    return plan


def current_source(
    listing: Listing, old: Listing | None, contents: list[str], new_contents: int, stored_at: str
) -> bytes:
    """The current document: the listing, its version count (distinct contents), and ``dn``, the
    derived filter/sort fields plus ``content_stored_at`` and ``contents`` (the last
    :data:`MAX_CONTENTS` content hashes, which the version count is checked against), spliced
    into pydantic's own JSON (several times faster than ``model_dump`` + ``json.dumps``)."""
    version = (old.version if old else 1) + new_contents
    if listing.version != version:
        listing = listing.model_copy(update={"version": version})
    flat = flat_fields(listing)
    dn = {
        k: flat[k]
        for k in (
            "vendor",
            "substance",
            "intent",
            "identifiers",
            "flags",
            "entities",
            "entity_text",
            "is_drug_sale",
            "score",
            "price_usd",
        )
    }
    dn["seen_at"] = flat["seen_at"].isoformat()
    dn["content_stored_at"] = stored_at
    dn["contents"] = contents[-MAX_CONTENTS:]
    for name, value in (("title_folded", listing.title), ("text_folded", listing.text)):
        folded = folded_copy(value)
        if folded is not None:  # searched beside title/text (index.folding); absent for most text
            dn[name] = folded
    return listing.model_dump_json().encode()[:-1] + b',"dn":' + dumps(dn) + b"}"
