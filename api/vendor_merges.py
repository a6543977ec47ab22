"""Analysts' vendor-identity merges: two aliases (``name@market``) declared one seller when the
shared keys do not show it (or a same-name pair the analyst has other evidence for).  Every
merge carries who and why, is audited, and is reversed by an unmerge that keeps the record."""

from __future__ import annotations

from datetime import UTC, datetime

from pydantic import BaseModel

from api import audit, db
from api.auth import Principal
from dragnet.settings import DragnetSettings
from index.identity import Merge

MAX_NOTE_CHARS = 500


class MergeRecord(BaseModel):
    id: int
    a: str
    b: str
    note: str
    by: str
    created_at: datetime
    removed_at: datetime | None = None
    removed_by: str | None = None


def _pair(a: str, b: str) -> tuple[str, str]:
    a, b = a.strip()[:600], b.strip()[:600]
    if not a or not b or "@" not in a or "@" not in b:
        raise ValueError("aliases are name@market (as the vendor page names them)")
    if a == b:
        raise ValueError("an alias cannot be merged with itself")
    first, second = sorted((a, b))
    return first, second


def active_merges(settings: DragnetSettings) -> list[Merge]:
    with db.connect(settings) as conn:
        rows = conn.execute("SELECT a, b, by, note FROM vendor_merges WHERE removed_at IS NULL ORDER BY id").fetchall()
    return [Merge(a=row["a"], b=row["b"], by=row["by"], note=row["note"]) for row in rows]


def list_merges(settings: DragnetSettings, alias: str | None = None) -> list[MergeRecord]:
    sql = "SELECT * FROM vendor_merges"
    params: list[str] = []
    if alias:
        sql += " WHERE a = ? OR b = ?"
        params = [alias, alias]
    with db.connect(settings) as conn:
        rows = conn.execute(sql + " ORDER BY id DESC LIMIT 500", params).fetchall()
    return [MergeRecord.model_validate(dict(row)) for row in rows]


def merge(settings: DragnetSettings, principal: Principal, a: str, b: str, note: str) -> MergeRecord:
    """Record a merge (``ValueError`` for a bad pair or one merged already)."""
    first, second = _pair(a, b)
    note = note.strip()[:MAX_NOTE_CHARS]
    if not note:
        raise ValueError("say why: a merge needs a note")
    now = datetime.now(UTC)
    with db.connect(settings) as conn:
        if conn.execute(
            "SELECT 1 FROM vendor_merges WHERE a = ? AND b = ? AND removed_at IS NULL", (first, second)
        ).fetchone():
            raise ValueError(f"{first} and {second} are merged already")
        row_id = conn.execute(
            "INSERT INTO vendor_merges(a, b, note, by, created_at) VALUES (?, ?, ?, ?, ?)",
            (first, second, note, principal.name, now.isoformat()),
        ).lastrowid
    audit.record(principal, "vendor.merge", f"{first} + {second}: {note}", 1, settings=settings)
    return MergeRecord(id=int(row_id or 0), a=first, b=second, note=note, by=principal.name, created_at=now)


def unmerge(settings: DragnetSettings, principal: Principal, a: str, b: str, note: str = "") -> int:
    """Reverse the active merge of the pair; the number of merges reversed (0: none was active)."""
    first, second = _pair(a, b)
    now = datetime.now(UTC).isoformat()
    with db.connect(settings) as conn:
        count = conn.execute(
            "UPDATE vendor_merges SET removed_at = ?, removed_by = ?, removed_note = ? "
            "WHERE a = ? AND b = ? AND removed_at IS NULL",
            (now, principal.name, note.strip()[:MAX_NOTE_CHARS], first, second),
        ).rowcount
    audit.record(principal, "vendor.unmerge", f"{first} - {second}: {note[:200]}", count, settings=settings)
    return count
