"""The audit log: who searched or exported what, when, and how many results came back.
Admins can search it (``search_audit``); nobody can edit it through the API."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel

from api import db
from api.auth import Principal
from dragnet.settings import DragnetSettings, get_settings

MAX_QUERY_CHARS = 4_000


class AuditEntry(BaseModel):
    id: int
    at: datetime
    key_id: str | None
    who: str
    role: str | None
    action: str
    query: str
    result_count: int | None


def record(
    principal: Principal | None,
    action: str,
    query: str,
    result_count: int | None,
    settings: DragnetSettings | None = None,
) -> None:
    """Append one entry.  ``query`` is a description of what was asked (never a key)."""
    settings = settings or get_settings()
    with db.connect(settings) as conn:
        conn.execute(
            "INSERT INTO audit_log(at, key_id, who, role, action, query, result_count) VALUES (?,?,?,?,?,?,?)",
            (
                datetime.now(UTC).isoformat(),
                principal.key_id if principal else None,
                principal.name if principal else "anonymous",
                principal.role if principal else None,
                action[:100],
                query[:MAX_QUERY_CHARS],
                result_count,
            ),
        )


def search_audit(
    *,
    text: str = "",
    who: str | None = None,
    action: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: int = 200,
    settings: DragnetSettings | None = None,
) -> list[AuditEntry]:
    """Entries newest first; ``text`` matches inside the recorded query (a plain substring)."""
    settings = settings or get_settings()
    conds: list[str] = []
    params: list[Any] = []
    if text:
        conds.append("instr(lower(query), lower(?)) > 0")
        params.append(text)
    if who:
        conds.append("(who = ? OR key_id = ?)")
        params += [who, who]
    if action:
        conds.append("action = ?")
        params.append(action)
    if since:
        conds.append("at >= ?")
        params.append(since.astimezone(UTC).isoformat())
    if until:
        conds.append("at <= ?")
        params.append(until.astimezone(UTC).isoformat())
    where = " AND ".join(conds) or "1"
    with db.connect(settings) as conn:
        rows = conn.execute(
            f"SELECT * FROM audit_log WHERE {where} ORDER BY id DESC LIMIT ?", params + [max(1, min(limit, 10_000))]
        ).fetchall()
    return [AuditEntry(**dict(row)) for row in rows]
