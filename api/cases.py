"""Case folders: the listings an investigation gathers, with notes and tags, in the API database.

Why here and not in the listing store: a case is analysts' work about listings, not a listing, and
it must survive a switch of the store to OpenSearch (as keys and the audit log do).  Every change
is written twice: to the case's own trail (``case_events``, exported with the case so that a
court or a partner sees who added what, when) and to the global audit log.  A closed case
refuses changes (:class:`CaseClosed`); cases are shared by all analysts (team work)."""

from __future__ import annotations

import re
import secrets
import sqlite3
from datetime import UTC, datetime
from typing import Literal

from pydantic import BaseModel, Field

from api import audit, db
from api.auth import Principal
from dragnet.settings import DragnetSettings

CaseStatus = Literal["open", "closed"]
MAX_NAME = 200
MAX_DESCRIPTION = 4_000
MAX_NOTE = 10_000
MAX_TAGS = 50
MAX_LISTINGS_PER_CALL = 500
MAX_LISTING_ID = 200
_TAG = re.compile(r"^[\w][\w .:/-]{0,63}$")
_CASE_ID = re.compile(r"^case-[0-9a-f]{16}$")


class CaseNotFound(KeyError):
    """No such case (the API answers 404)."""


class CaseClosed(ValueError):
    """The case is closed and accepts no changes (the API answers 409)."""


class CaseNote(BaseModel):
    id: int
    author: str
    at: datetime
    text: str


class CaseListing(BaseModel):
    listing_id: str
    added_by: str
    added_at: datetime


class CaseEvent(BaseModel):
    """One line of the case's trail: who did what to the case, when."""

    at: datetime
    who: str
    action: str
    listing_id: str | None = None
    detail: str = ""


class CaseSummary(BaseModel):
    id: str
    name: str
    description: str
    created_by: str
    created_at: datetime
    status: CaseStatus
    closed_at: datetime | None = None
    tags: list[str] = Field(default_factory=list)
    listing_count: int = 0


class Case(CaseSummary):
    listings: list[CaseListing] = Field(default_factory=list)
    notes: list[CaseNote] = Field(default_factory=list)
    events: list[CaseEvent] = Field(default_factory=list)


def _now() -> str:
    return datetime.now(UTC).isoformat()


def _who(principal: Principal) -> str:
    return f"{principal.name} ({principal.role})"


def clean_tag(tag: str) -> str:
    """A tag: a short word or phrase (letters, digits, space, ``. : / -``); ValueError otherwise."""
    tag = tag.strip()
    if not _TAG.match(tag):
        raise ValueError(f"invalid tag {tag[:70]!r}: up to 64 letters, digits, spaces or . : / - _")
    return tag


def valid_case_id(case_id: str) -> bool:
    return bool(_CASE_ID.match(case_id))


def _event(
    conn: sqlite3.Connection, case_id: str, principal: Principal, action: str, listing_id: str | None, detail: str
) -> None:
    conn.execute(
        "INSERT INTO case_events(case_id, at, who, action, listing_id, detail) VALUES (?,?,?,?,?,?)",
        (case_id, _now(), _who(principal), action, listing_id, detail[:1000]),
    )


def _open_row(conn: sqlite3.Connection, case_id: str) -> sqlite3.Row:
    row = conn.execute("SELECT * FROM cases WHERE id = ?", (case_id,)).fetchone()
    if row is None:
        raise CaseNotFound(case_id)
    if row["status"] != "open":
        raise CaseClosed(f"case {case_id} is closed")
    return row


def _summary(conn: sqlite3.Connection, row: sqlite3.Row) -> CaseSummary:
    tags = [r[0] for r in conn.execute("SELECT tag FROM case_tags WHERE case_id = ? ORDER BY tag", (row["id"],))]
    count = conn.execute("SELECT count(*) FROM case_listings WHERE case_id = ?", (row["id"],)).fetchone()[0]
    return CaseSummary(
        id=row["id"],
        name=row["name"],
        description=row["description"],
        created_by=row["created_by"],
        created_at=row["created_at"],
        status=row["status"],
        closed_at=row["closed_at"],
        tags=tags,
        listing_count=count,
    )


def create_case(settings: DragnetSettings, principal: Principal, name: str, description: str = "") -> CaseSummary:
    name = name.strip()
    if not name or len(name) > MAX_NAME:
        raise ValueError(f"a case needs a name of 1 to {MAX_NAME} characters")
    if len(description) > MAX_DESCRIPTION:
        raise ValueError(f"the description is over {MAX_DESCRIPTION} characters")
    case_id = f"case-{secrets.token_hex(8)}"
    with db.connect(settings) as conn:
        conn.execute(
            "INSERT INTO cases(id, name, description, created_by, created_key_id, created_at) VALUES (?,?,?,?,?,?)",
            (case_id, name, description, _who(principal), principal.key_id, _now()),
        )
        _event(conn, case_id, principal, "create", None, f"name={name}")
        row = conn.execute("SELECT * FROM cases WHERE id = ?", (case_id,)).fetchone()
        summary = _summary(conn, row)
    audit.record(principal, "case.create", f"case={case_id} name={name}", None, settings=settings)
    return summary


def list_cases(settings: DragnetSettings, status: CaseStatus | None = None, limit: int = 500) -> list[CaseSummary]:
    """Cases, newest first (``status``: only open or only closed ones)."""
    with db.connect(settings) as conn:
        if status:
            rows = conn.execute(
                "SELECT * FROM cases WHERE status = ? ORDER BY created_at DESC LIMIT ?", (status, limit)
            ).fetchall()
        else:
            rows = conn.execute("SELECT * FROM cases ORDER BY created_at DESC LIMIT ?", (limit,)).fetchall()
        return [_summary(conn, row) for row in rows]


def get_case(settings: DragnetSettings, case_id: str) -> Case:
    if not valid_case_id(case_id):
        raise CaseNotFound(case_id)
    with db.connect(settings) as conn:
        row = conn.execute("SELECT * FROM cases WHERE id = ?", (case_id,)).fetchone()
        if row is None:
            raise CaseNotFound(case_id)
        summary = _summary(conn, row)
        listings = [
            CaseListing(**dict(r))
            for r in conn.execute(
                "SELECT listing_id, added_by, added_at FROM case_listings WHERE case_id = ? "
                "ORDER BY added_at, listing_id",
                (case_id,),
            )
        ]
        notes = [
            CaseNote(**dict(r))
            for r in conn.execute(
                "SELECT id, author, at, text FROM case_notes WHERE case_id = ? ORDER BY id", (case_id,)
            )
        ]
        events = [
            CaseEvent(**dict(r))
            for r in conn.execute(
                "SELECT at, who, action, listing_id, detail FROM case_events WHERE case_id = ? ORDER BY id", (case_id,)
            )
        ]
    return Case(**summary.model_dump(), listings=listings, notes=notes, events=events)


def add_listings(
    settings: DragnetSettings, principal: Principal, case_id: str, listing_ids: list[str]
) -> tuple[list[str], list[str]]:
    """Add listings (ids the caller has checked exist); returns (added, already in the case)."""
    if not valid_case_id(case_id):
        raise CaseNotFound(case_id)
    added: list[str] = []
    present: list[str] = []
    with db.connect(settings) as conn:
        _open_row(conn, case_id)
        for listing_id in dict.fromkeys(listing_ids):
            changed = conn.execute(
                "INSERT OR IGNORE INTO case_listings(case_id, listing_id, added_by, added_at) VALUES (?,?,?,?)",
                (case_id, listing_id, _who(principal), _now()),
            ).rowcount
            if changed:
                _event(conn, case_id, principal, "add_listing", listing_id, "")
                added.append(listing_id)
            else:
                present.append(listing_id)
    if added:
        audit.record(
            principal, "case.add_listings", f"case={case_id} listings={','.join(added)}", len(added), settings=settings
        )
    return added, present


def remove_listing(settings: DragnetSettings, principal: Principal, case_id: str, listing_id: str) -> bool:
    if not valid_case_id(case_id):
        raise CaseNotFound(case_id)
    with db.connect(settings) as conn:
        _open_row(conn, case_id)
        removed = conn.execute(
            "DELETE FROM case_listings WHERE case_id = ? AND listing_id = ?", (case_id, listing_id)
        ).rowcount
        if removed:
            _event(conn, case_id, principal, "remove_listing", listing_id, "")
    if removed:
        audit.record(principal, "case.remove_listing", f"case={case_id} listing={listing_id}", 1, settings=settings)
    return bool(removed)


def add_note(settings: DragnetSettings, principal: Principal, case_id: str, text: str) -> CaseNote:
    text = text.strip()
    if not text or len(text) > MAX_NOTE:
        raise ValueError(f"a note holds 1 to {MAX_NOTE} characters")
    if not valid_case_id(case_id):
        raise CaseNotFound(case_id)
    at = _now()
    with db.connect(settings) as conn:
        _open_row(conn, case_id)
        note_id = conn.execute(
            "INSERT INTO case_notes(case_id, author, at, text) VALUES (?,?,?,?)", (case_id, _who(principal), at, text)
        ).lastrowid
        _event(conn, case_id, principal, "add_note", None, f"note={note_id}")
    audit.record(principal, "case.note", f"case={case_id} note={note_id}", 1, settings=settings)
    return CaseNote(id=int(note_id or 0), author=_who(principal), at=datetime.fromisoformat(at), text=text)


def set_tags(settings: DragnetSettings, principal: Principal, case_id: str, tags: list[str]) -> list[str]:
    """Replace the case's tags (deduplicated, sorted)."""
    cleaned = sorted({clean_tag(tag) for tag in tags if tag.strip()})
    if len(cleaned) > MAX_TAGS:
        raise ValueError(f"at most {MAX_TAGS} tags")
    if not valid_case_id(case_id):
        raise CaseNotFound(case_id)
    with db.connect(settings) as conn:
        _open_row(conn, case_id)
        conn.execute("DELETE FROM case_tags WHERE case_id = ?", (case_id,))
        conn.executemany("INSERT INTO case_tags(case_id, tag) VALUES (?,?)", [(case_id, tag) for tag in cleaned])
        _event(conn, case_id, principal, "set_tags", None, "tags=" + ",".join(cleaned))
    audit.record(principal, "case.tags", f"case={case_id} tags={','.join(cleaned)}", len(cleaned), settings=settings)
    return cleaned


def close_case(settings: DragnetSettings, principal: Principal, case_id: str) -> CaseSummary:
    if not valid_case_id(case_id):
        raise CaseNotFound(case_id)
    with db.connect(settings) as conn:
        _open_row(conn, case_id)
        conn.execute("UPDATE cases SET status = 'closed', closed_at = ? WHERE id = ?", (_now(), case_id))
        _event(conn, case_id, principal, "close", None, "")
        summary = _summary(conn, conn.execute("SELECT * FROM cases WHERE id = ?", (case_id,)).fetchone())
    audit.record(principal, "case.close", f"case={case_id}", None, settings=settings)
    return summary
