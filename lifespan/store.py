"""The lifespan store: markets, mirrors, probe history, state changes, signals, imported history.

A small SQLite file (``lifespan.store_path`` or ``<data_dir>/lifespan.sqlite3``) behind one class,
because probe history is append-mostly, small (one row per market per probe) and must survive
restarts of the probe workers.  Several worker processes may share it: WAL mode and a busy timeout
keep concurrent writers from failing.
"""

from __future__ import annotations

import json
import re
import sqlite3
import threading
import time
import unicodedata
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from dragnet import sqlite
from dragnet.settings import DragnetSettings, get_settings
from lifespan.models import Market, MarketState, Mirror, ProbeResult, StateChange

SCHEMA = """
CREATE TABLE IF NOT EXISTS markets (
    market_id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    primary_host TEXT,
    start_path TEXT NOT NULL DEFAULT '/',
    state TEXT NOT NULL DEFAULT 'new',
    state_since REAL,
    suspected INTEGER NOT NULL DEFAULT 0,
    first_seen REAL,
    last_seen REAL,
    first_probe_at REAL,
    last_probe_at REAL,
    consecutive_failures INTEGER NOT NULL DEFAULT 0,
    failing_since REAL,
    next_probe_at REAL,
    source TEXT NOT NULL DEFAULT 'registry',
    markers TEXT NOT NULL DEFAULT '{}'
);
CREATE TABLE IF NOT EXISTS mirrors (
    market_id TEXT NOT NULL,
    host TEXT NOT NULL,
    source TEXT NOT NULL,
    verified INTEGER NOT NULL DEFAULT 0,
    phishing INTEGER NOT NULL DEFAULT 0,
    first_seen REAL NOT NULL,
    last_seen REAL NOT NULL,
    note TEXT,
    PRIMARY KEY (market_id, host)
);
CREATE TABLE IF NOT EXISTS probes (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    market_id TEXT NOT NULL,
    at REAL NOT NULL,
    status TEXT NOT NULL,
    down_kind TEXT,
    latency_ms REAL,
    data TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS probes_market_at ON probes (market_id, at);
CREATE TABLE IF NOT EXISTS state_changes (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    market_id TEXT NOT NULL,
    at REAL NOT NULL,
    from_state TEXT NOT NULL,
    to_state TEXT NOT NULL,
    reason TEXT NOT NULL,
    evidence TEXT NOT NULL,
    suspected INTEGER NOT NULL DEFAULT 0,
    confirmed_by TEXT,
    confirmed_at REAL
);
CREATE INDEX IF NOT EXISTS state_changes_market ON state_changes (market_id, at);
CREATE TABLE IF NOT EXISTS signals (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    market_id TEXT NOT NULL,
    at REAL NOT NULL,
    kind TEXT NOT NULL,
    source TEXT,
    detail TEXT
);
CREATE TABLE IF NOT EXISTS mirror_checks (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    market_id TEXT NOT NULL,
    at REAL NOT NULL,
    ok INTEGER NOT NULL,
    data TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS history (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL,
    market_id TEXT NOT NULL,
    start REAL NOT NULL,
    end REAL,
    closure_type TEXT,
    source TEXT NOT NULL,
    extra TEXT NOT NULL DEFAULT '{}',
    UNIQUE (market_id, start, source)
);
"""


# Analyst reviews of transitions (confirm, reject, undo), with who, when and why.  Created outside
# the versioned steps (IF NOT EXISTS on every open) so that the store stays at schema version 1.
REVIEW_SCHEMA = """
CREATE TABLE IF NOT EXISTS analyst_actions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    market_id TEXT NOT NULL,
    change_id INTEGER NOT NULL,
    action TEXT NOT NULL,
    analyst TEXT NOT NULL,
    at REAL NOT NULL,
    why TEXT,
    data TEXT NOT NULL DEFAULT '{}',
    undone_at REAL
);
CREATE INDEX IF NOT EXISTS analyst_actions_market ON analyst_actions (market_id, at);
"""


def market_id_for(name: str) -> str:
    """A stable, URL-safe id from a market name ("Abacus Market" -> "abacus-market")."""
    text = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode("ascii").lower()
    slug = re.sub(r"[^a-z0-9]+", "-", text).strip("-")
    return slug[:80] or "market"


def _market_from_row(row: sqlite3.Row) -> Market:
    data = dict(row)
    data["suspected"] = bool(data["suspected"])
    data["markers"] = json.loads(data["markers"] or "{}")
    return Market(**data)


class LifespanStore:
    """All lifespan state of one deployment.  Thread-safe; cheap to open."""

    def __init__(self, path: Path | None = None, settings: DragnetSettings | None = None) -> None:
        settings = settings or get_settings()
        self.path = path or settings.lifespan.store_path or settings.paths.data_dir / "lifespan.sqlite3"
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.RLock()
        self._db = sqlite.connect(self.path, row_factory=True)
        sqlite.migrate(self._db, [SCHEMA, REVIEW_SCHEMA])  # step 2: analysts' reviews of transitions

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def __enter__(self) -> LifespanStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            try:
                yield self._db
                self._db.commit()
            except BaseException:
                self._db.rollback()
                raise

    # -- markets -------------------------------------------------------------------------------
    def upsert_market(
        self,
        name: str,
        *,
        market_id: str | None = None,
        primary_host: str | None = None,
        start_path: str | None = None,
        source: str = "registry",
        markers: dict[str, list[str]] | None = None,
    ) -> Market:
        """Register a market or refresh its address; never touches its state or history."""
        market_id = market_id or market_id_for(name)
        with self._tx() as db:
            row = db.execute("SELECT * FROM markets WHERE market_id=?", (market_id,)).fetchone()
            if row is None:
                db.execute(
                    "INSERT INTO markets (market_id, name, primary_host, start_path, source, markers) "
                    "VALUES (?,?,?,?,?,?)",
                    (market_id, name, primary_host, start_path or "/", source, json.dumps(markers or {})),
                )
            else:
                db.execute(
                    "UPDATE markets SET name=?, primary_host=COALESCE(?, primary_host), "
                    "start_path=COALESCE(?, start_path), markers=? WHERE market_id=?",
                    (
                        name,
                        primary_host,
                        start_path,
                        json.dumps(markers if markers is not None else json.loads(row["markers"])),
                        market_id,
                    ),
                )
        market = self.get_market(market_id)
        assert market is not None
        return market

    def get_market(self, market_id: str) -> Market | None:
        with self._lock:
            row = self._db.execute("SELECT * FROM markets WHERE market_id=?", (market_id,)).fetchone()
        return _market_from_row(row) if row else None

    def markets(self) -> list[Market]:
        with self._lock:
            rows = self._db.execute("SELECT * FROM markets ORDER BY market_id").fetchall()
        return [_market_from_row(r) for r in rows]

    def due_markets(self, now: float) -> list[Market]:
        """Markets whose next probe is due; terminal seized/exit-scam markets keep being probed
        on the back-off schedule too, since a "dead" market that returns is news."""
        with self._lock:
            rows = self._db.execute(
                "SELECT * FROM markets WHERE primary_host IS NOT NULL AND "
                "(next_probe_at IS NULL OR next_probe_at <= ?) ORDER BY COALESCE(next_probe_at, 0)",
                (now,),
            ).fetchall()
        return [_market_from_row(r) for r in rows]

    def update_market(self, market_id: str, **fields: Any) -> None:
        allowed = set(Market.model_fields) - {"market_id"}
        unknown = set(fields) - allowed
        if unknown:
            raise ValueError(f"unknown market fields: {sorted(unknown)}")
        values = []
        for value in fields.values():
            if isinstance(value, MarketState):
                value = value.value
            elif isinstance(value, bool):
                value = int(value)
            elif isinstance(value, dict):
                value = json.dumps(value)
            values.append(value)
        assignments = ", ".join(f"{k}=?" for k in fields)
        with self._tx() as db:
            db.execute(f"UPDATE markets SET {assignments} WHERE market_id=?", (*values, market_id))

    # -- mirrors -------------------------------------------------------------------------------
    def add_mirror(
        self,
        market_id: str,
        host: str,
        source: str,
        *,
        verified: bool | None = None,
        phishing: bool | None = None,
        note: str | None = None,
        at: float | None = None,
    ) -> Mirror:
        """Record an address; flags only change when given (a later plain sighting keeps them), and
        the source only changes when an address is promoted to ``signed`` or found a ``clone``."""
        at = time.time() if at is None else at
        host = host.lower().strip()
        with self._tx() as db:
            row = db.execute("SELECT * FROM mirrors WHERE market_id=? AND host=?", (market_id, host)).fetchone()
            if row is None:
                db.execute(
                    "INSERT INTO mirrors VALUES (?,?,?,?,?,?,?,?)",
                    (market_id, host, source, int(bool(verified)), int(bool(phishing)), at, at, note),
                )
            else:
                db.execute(
                    "UPDATE mirrors SET last_seen=?, verified=COALESCE(?, verified), "
                    "phishing=COALESCE(?, phishing), note=COALESCE(?, note), "
                    "source=CASE WHEN ? IN ('signed', 'clone') THEN ? ELSE source END "
                    "WHERE market_id=? AND host=?",
                    (
                        at,
                        None if verified is None else int(verified),
                        None if phishing is None else int(phishing),
                        note,
                        source,
                        source,
                        market_id,
                        host,
                    ),
                )
        return next(m for m in self.mirrors(market_id) if m.host == host)

    def mirrors(self, market_id: str | None = None) -> list[Mirror]:
        with self._lock:
            if market_id is None:
                rows = self._db.execute("SELECT * FROM mirrors ORDER BY market_id, host").fetchall()
            else:
                rows = self._db.execute(
                    "SELECT * FROM mirrors WHERE market_id=? ORDER BY host", (market_id,)
                ).fetchall()
        return [Mirror(**{**dict(r), "verified": bool(r["verified"]), "phishing": bool(r["phishing"])}) for r in rows]

    # -- probes --------------------------------------------------------------------------------
    def add_probe(self, result: ProbeResult) -> None:
        with self._tx() as db:
            db.execute(
                "INSERT INTO probes (market_id, at, status, down_kind, latency_ms, data) VALUES (?,?,?,?,?,?)",
                (
                    result.market_id,
                    result.at,
                    result.status.value,
                    result.down_kind.value if result.down_kind else None,
                    result.latency_ms,
                    result.model_dump_json(),
                ),
            )

    def probes(self, market_id: str, limit: int | None = None) -> list[ProbeResult]:
        sql = "SELECT data FROM probes WHERE market_id=? ORDER BY at, id"
        with self._lock:
            rows = self._db.execute(sql, (market_id,)).fetchall()
        results = [ProbeResult.model_validate_json(r["data"]) for r in rows]
        return results[-limit:] if limit else results

    def probe_counts(self, market_id: str) -> tuple[int, int]:
        """(reachable probes, all probes): the basis of uptime %."""
        with self._lock:
            row = self._db.execute(
                "SELECT SUM(CASE WHEN status IN ('up','gate','login') THEN 1 ELSE 0 END), COUNT(*) "
                "FROM probes WHERE market_id=?",
                (market_id,),
            ).fetchone()
        return int(row[0] or 0), int(row[1] or 0)

    # -- state changes -------------------------------------------------------------------------
    def add_state_change(self, change: StateChange) -> int:
        with self._tx() as db:
            cur = db.execute(
                "INSERT INTO state_changes (market_id, at, from_state, to_state, reason, evidence, suspected, "
                "confirmed_by, confirmed_at) VALUES (?,?,?,?,?,?,?,?,?)",
                (
                    change.market_id,
                    change.at,
                    change.from_state.value,
                    change.to_state.value,
                    change.reason,
                    json.dumps(change.evidence, default=str),
                    int(change.suspected),
                    change.confirmed_by,
                    change.confirmed_at,
                ),
            )
            return int(cur.lastrowid or 0)

    def state_changes(self, market_id: str | None = None) -> list[StateChange]:
        with self._lock:
            if market_id is None:
                rows = self._db.execute("SELECT * FROM state_changes ORDER BY at, id").fetchall()
            else:
                rows = self._db.execute(
                    "SELECT * FROM state_changes WHERE market_id=? ORDER BY at, id", (market_id,)
                ).fetchall()
        out = []
        for r in rows:
            d = dict(r)
            d["evidence"] = json.loads(d["evidence"])
            d["suspected"] = bool(d["suspected"])
            out.append(StateChange(**d))
        return out

    def get_change(self, market_id: str, change_id: int) -> StateChange | None:
        return next((c for c in self.state_changes(market_id) if c.id == change_id), None)

    def current_change(self, market_id: str) -> StateChange | None:
        """The transition that put the market in its current state: the latest one, or, when that
        merely restored a transition after an undone rejection, the restored one."""
        changes = self.state_changes(market_id)
        if not changes:
            return None
        last = changes[-1]
        restored = last.evidence.get("restored_change")
        if restored is not None:
            return next((c for c in changes if c.id == restored), last)
        return last

    def confirm_last_change(
        self, market_id: str, analyst: str, at: float | None = None, why: str | None = None
    ) -> StateChange | None:
        """An analyst confirms the market's latest (suspected) transition."""
        changes = self.state_changes(market_id)
        if not changes or changes[-1].id is None:
            return None
        return self.confirm_change(market_id, changes[-1].id, analyst, why=why, at=at)

    def _action(
        self,
        db: sqlite3.Connection,
        market_id: str,
        change_id: int,
        action: str,
        analyst: str,
        at: float,
        why: str | None,
        data: dict[str, Any],
    ) -> None:
        db.execute(
            "INSERT INTO analyst_actions (market_id, change_id, action, analyst, at, why, data) VALUES (?,?,?,?,?,?,?)",
            (
                market_id,
                change_id,
                action,
                analyst[:200],
                at,
                (why or "")[:2000] or None,
                json.dumps(data, default=str),
            ),
        )

    def _live_action(self, market_id: str, change_id: int) -> dict[str, Any] | None:
        """The latest confirm or reject of a transition that has not been undone."""
        actions = [
            a
            for a in self.analyst_actions(market_id)
            if a["change_id"] == change_id and a["action"] in {"confirm", "reject"} and a["undone_at"] is None
        ]
        return actions[-1] if actions else None

    def _require_change(self, market_id: str, change_id: int) -> tuple[Market, StateChange, list[StateChange]]:
        market = self.get_market(market_id)
        changes = self.state_changes(market_id)
        change = next((c for c in changes if c.id == change_id), None)
        if market is None or change is None:
            raise KeyError(f"market {market_id!r} has no transition #{change_id}")
        return market, change, changes

    def confirm_change(
        self, market_id: str, change_id: int, analyst: str, why: str | None = None, at: float | None = None
    ) -> StateChange:
        """An analyst confirms one transition (a confirmed closure is sticky, see lifespan.state)."""
        at = time.time() if at is None else at
        with self._lock:
            market, change, changes = self._require_change(market_id, change_id)
            live = self._live_action(market_id, change_id)
            if live is not None and live["action"] == "reject":
                raise ValueError(f"transition #{change_id} was rejected; undo the rejection first")
            effective = self.current_change(market_id)
            current = effective is not None and effective.id == change_id and market.state == change.to_state
            before = {
                "suspected": change.suspected,
                "confirmed_by": change.confirmed_by,
                "confirmed_at": change.confirmed_at,
                "market_suspected": market.suspected if current else None,
            }
            with self._tx() as db:
                db.execute(
                    "UPDATE state_changes SET suspected=0, confirmed_by=?, confirmed_at=? WHERE id=?",
                    (analyst, at, change_id),
                )
                if current:
                    db.execute("UPDATE markets SET suspected=0 WHERE market_id=?", (market_id,))
                self._action(db, market_id, change_id, "confirm", analyst, at, why, {"before": before})
        confirmed = self.get_change(market_id, change_id)
        assert confirmed is not None
        return confirmed

    def reject_change(
        self, market_id: str, change_id: int, analyst: str, why: str | None = None, at: float | None = None
    ) -> StateChange:
        """An analyst rejects the market's current transition: the market returns to the state it
        came from (a new transition records that, with who and why) and is probed at once.
        Returns the reverting transition."""
        at = time.time() if at is None else at
        with self._lock:
            market, change, changes = self._require_change(market_id, change_id)
            effective = self.current_change(market_id)
            if effective is None or effective.id != change_id or market.state != change.to_state:
                raise ValueError(f"transition #{change_id} is not the market's current one; only that is rejected")
            before_it = [c for c in changes if c.at < change.at or (c.at == change.at and (c.id or 0) < change_id)]
            previous = before_it[-1] if before_it else None
            revert = StateChange(
                market_id=market_id,
                at=at,
                from_state=change.to_state,
                to_state=change.from_state,
                reason=f"analyst {analyst} rejected transition #{change_id}" + (f": {why}" if why else ""),
                evidence={"rejected_change": change_id, "analyst": analyst, "why": why},
                suspected=False,
            )
            before = {
                "state": market.state.value,
                "state_since": market.state_since,
                "suspected": market.suspected,
                "next_probe_at": market.next_probe_at,
            }
            revert_id = self.add_state_change(revert)
            with self._tx() as db:
                db.execute(
                    "UPDATE markets SET state=?, state_since=?, suspected=?, next_probe_at=? WHERE market_id=?",
                    (
                        change.from_state.value,
                        at,
                        int(bool(previous and previous.to_state == change.from_state and previous.suspected)),
                        at,
                        market_id,
                    ),
                )
                self._action(
                    db, market_id, change_id, "reject", analyst, at, why, {"before": before, "revert_change": revert_id}
                )
        reverted = self.get_change(market_id, revert_id)
        assert reverted is not None
        return reverted

    def undo_action(
        self, market_id: str, change_id: int, analyst: str, why: str | None = None, at: float | None = None
    ) -> dict[str, Any]:
        """Undo the latest confirm or reject of a transition; returns the undone action."""
        at = time.time() if at is None else at
        with self._lock:
            market, change, changes = self._require_change(market_id, change_id)
            live = self._live_action(market_id, change_id)
            if live is None:
                raise ValueError(f"transition #{change_id} has no confirmation or rejection to undo")
            data = live["data"]
            restore_id: int | None = None
            if live["action"] == "reject":
                revert_id = data.get("revert_change")
                if changes[-1].id != revert_id:
                    raise ValueError("the market moved on since the rejection; it cannot be undone")
                restore_id = self.add_state_change(
                    StateChange(
                        market_id=market_id,
                        at=at,
                        from_state=market.state,
                        to_state=change.to_state,
                        reason=f"analyst {analyst} undid the rejection of transition #{change_id}"
                        + (f": {why}" if why else ""),
                        evidence={"restored_change": change_id, "analyst": analyst, "why": why},
                        suspected=change.suspected,
                        confirmed_by=change.confirmed_by,
                        confirmed_at=change.confirmed_at,
                    )
                )
            with self._tx() as db:
                if live["action"] == "confirm":
                    b = data["before"]
                    db.execute(
                        "UPDATE state_changes SET suspected=?, confirmed_by=?, confirmed_at=? WHERE id=?",
                        (int(bool(b["suspected"])), b["confirmed_by"], b["confirmed_at"], change_id),
                    )
                    if b.get("market_suspected") is not None:
                        db.execute(
                            "UPDATE markets SET suspected=? WHERE market_id=?",
                            (int(bool(b["market_suspected"])), market_id),
                        )
                else:
                    b = data["before"]
                    db.execute(
                        "UPDATE markets SET state=?, state_since=?, suspected=?, next_probe_at=? WHERE market_id=?",
                        (b["state"], b["state_since"], int(bool(b["suspected"])), b["next_probe_at"], market_id),
                    )
                db.execute("UPDATE analyst_actions SET undone_at=? WHERE id=?", (at, live["id"]))
                self._action(
                    db,
                    market_id,
                    change_id,
                    "undo",
                    analyst,
                    at,
                    why,
                    {"undone_action": live["id"], "undone": live["action"], "restore_change": restore_id},
                )
        return live

    def analyst_actions(self, market_id: str | None = None) -> list[dict[str, Any]]:
        """The audit trail of analyst reviews: action, transition, who, when, why."""
        sql = "SELECT * FROM analyst_actions"
        args: tuple[Any, ...] = ()
        if market_id is not None:
            sql += " WHERE market_id=?"
            args = (market_id,)
        with self._lock:
            rows = self._db.execute(sql + " ORDER BY at, id", args).fetchall()
        return [{**dict(r), "data": json.loads(r["data"])} for r in rows]

    def rejected_change_ids(self) -> set[int]:
        """Transitions an analyst rejected (and did not un-reject)."""
        with self._lock:
            rows = self._db.execute(
                "SELECT change_id FROM analyst_actions WHERE action='reject' AND undone_at IS NULL"
            ).fetchall()
        return {int(r[0]) for r in rows}

    # -- signals (complaints, withdrawals disabled, ...) ------------------------------------------
    def add_signal(
        self,
        market_id: str,
        kind: str,
        *,
        source: str | None = None,
        detail: str | None = None,
        at: float | None = None,
    ) -> None:
        at = time.time() if at is None else at
        with self._tx() as db:
            db.execute(
                "INSERT INTO signals (market_id, at, kind, source, detail) VALUES (?,?,?,?,?)",
                (market_id, at, kind, source, (detail or "")[:2000]),
            )

    def signals(self, market_id: str, kind: str | None = None, since: float | None = None) -> list[dict[str, Any]]:
        sql = "SELECT at, kind, source, detail FROM signals WHERE market_id=?"
        args: list[Any] = [market_id]
        if kind is not None:
            sql += " AND kind=?"
            args.append(kind)
        if since is not None:
            sql += " AND at>=?"
            args.append(since)
        with self._lock:
            return [dict(r) for r in self._db.execute(sql + " ORDER BY at", args).fetchall()]

    # -- mirror checks -------------------------------------------------------------------------
    def add_mirror_check(self, market_id: str, at: float, ok: bool, data: dict[str, Any]) -> None:
        with self._tx() as db:
            db.execute(
                "INSERT INTO mirror_checks (market_id, at, ok, data) VALUES (?,?,?,?)",
                (market_id, at, int(ok), json.dumps(data, default=str)),
            )

    def mirror_checks(self, market_id: str) -> list[dict[str, Any]]:
        with self._lock:
            rows = self._db.execute(
                "SELECT at, ok, data FROM mirror_checks WHERE market_id=? ORDER BY at", (market_id,)
            ).fetchall()
        return [{"at": r["at"], "ok": bool(r["ok"]), **json.loads(r["data"])} for r in rows]

    # -- imported history ----------------------------------------------------------------------
    def add_history(
        self,
        name: str,
        start: float,
        end: float | None,
        closure_type: str | None,
        source: str,
        extra: dict[str, Any] | None = None,
    ) -> bool:
        """Insert one historical record; ``False`` when that (market, start, source) is already there."""
        with self._tx() as db:
            cur = db.execute(
                "INSERT OR IGNORE INTO history (name, market_id, start, end, closure_type, source, extra) "
                "VALUES (?,?,?,?,?,?,?)",
                (name, market_id_for(name), start, end, closure_type, source, json.dumps(extra or {})),
            )
            return cur.rowcount > 0

    def history(self) -> list[dict[str, Any]]:
        with self._lock:
            rows = self._db.execute("SELECT * FROM history ORDER BY start, name").fetchall()
        return [{**dict(r), "extra": json.loads(r["extra"])} for r in rows]
