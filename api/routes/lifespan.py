"""Lifespan views: JSON report and market detail, and an HTML page with survival plots.

Market names, titles and evidence come from hostile sites and imported tables: every value on the
page goes through :func:`html.escape`, plots are PNG data URIs (no SVG, nothing executable), and the
page is served with a Content-Security-Policy that forbids scripts.
"""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import HTMLResponse

from api.audit import record
from api.auth import Principal
from api.deps import require_roles, settings_of
from api.forms import page_params
from api.openapi import AUTH, answers
from lifespan.analytics import report
from lifespan.html import render_market_page, render_page
from lifespan.models import StateChange
from lifespan.store import LifespanStore

router = APIRouter(tags=["lifespan"])

CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'"
_viewer = require_roles("analyst", "operator")


def _store(request: Request) -> LifespanStore:
    return LifespanStore(settings=settings_of(request))


def _audit(principal: Principal, action: str, query: str, count: int | None, request: Request) -> None:
    try:
        record(principal, action, query, count, settings=settings_of(request))
    except Exception:  # noqa: BLE001 - the audit log must not break a read-only view
        pass


@router.get("/lifespan/report", responses=answers(*AUTH))
def lifespan_report(
    request: Request, confirmed_only: bool = Query(False), principal: Principal = Depends(_viewer)
) -> dict[str, Any]:
    """Per-market lives (first/last seen, uptime) and Kaplan-Meier / Aalen-Johansen summaries."""
    with _store(request) as store:
        rep = report(store, confirmed_only=confirmed_only)
    _audit(principal, "lifespan.report", f"confirmed_only={confirmed_only}", len(rep["markets"]), request)
    return rep


@router.get("/lifespan/markets", responses=answers(*AUTH))
def lifespan_markets(request: Request, principal: Principal = Depends(_viewer)) -> list[dict[str, Any]]:
    with _store(request) as store:
        return [m.model_dump(mode="json") for m in store.markets()]


@router.get("/lifespan/markets/{market_id}", responses=answers(*AUTH, 404))
def lifespan_market(
    market_id: str, request: Request, probes: int = Query(50, ge=1, le=1000), principal: Principal = Depends(_viewer)
) -> dict[str, Any]:
    """One market: state, mirrors (signed / phishing), state changes with evidence, recent probes."""
    with _store(request) as store:
        market = store.get_market(market_id)
        if market is None:
            raise HTTPException(404, "unknown market")
        hits, total = store.probe_counts(market_id)
        return {
            "market": market.model_dump(mode="json"),
            "uptime_pct": round(100.0 * hits / total, 2) if total else None,
            "mirrors": [m.model_dump(mode="json") for m in store.mirrors(market_id)],
            "state_changes": [c.model_dump(mode="json") for c in store.state_changes(market_id)],
            "probes": [p.model_dump(mode="json") for p in store.probes(market_id, limit=probes)],
            "mirror_checks": store.mirror_checks(market_id)[-10:],
            "signals": store.signals(market_id)[-50:],
            "actions": store.analyst_actions(market_id)[-50:],
        }


@router.get(
    "/lifespan/markets/{market_id}/page",
    response_class=HTMLResponse,
    responses=answers(*AUTH, 400, 404),
    dependencies=[page_params()],
)
def lifespan_market_page(market_id: str, request: Request, principal: Principal = Depends(_viewer)) -> HTMLResponse:
    detail = lifespan_market(market_id, request, probes=200, principal=principal)
    return HTMLResponse(
        render_market_page(detail), headers={"Content-Security-Policy": CSP, "X-Content-Type-Options": "nosniff"}
    )


@router.post("/lifespan/markets/{market_id}/confirm", responses=answers(*AUTH, 404, 413))
def confirm_state(
    market_id: str, request: Request, principal: Principal = Depends(require_roles("analyst"))
) -> dict[str, Any]:
    """An analyst confirms the market's latest suspected transition (exit scam, retirement)."""
    with _store(request) as store:
        change = store.confirm_last_change(market_id, principal.name)
    if change is None:
        raise HTTPException(404, "no state change to confirm")
    _audit(principal, "lifespan.confirm", market_id, 1, request)
    return change.model_dump(mode="json")


def _review(
    market_id: str, change_id: int, action: str, why: str | None, request: Request, principal: Principal
) -> dict[str, Any]:
    with _store(request) as store:
        change: StateChange | None
        try:
            if action == "confirm":
                change = store.confirm_change(market_id, change_id, principal.name, why=why)
                undone = None
            elif action == "reject":
                change = store.reject_change(market_id, change_id, principal.name, why=why)
                undone = None
            else:
                undone = store.undo_action(market_id, change_id, principal.name, why=why)
                change = store.get_change(market_id, change_id)
        except KeyError:
            raise HTTPException(404, "unknown market or transition") from None
        except ValueError as exc:
            raise HTTPException(409, str(exc)) from None
        market = store.get_market(market_id)
        actions = store.analyst_actions(market_id)
    _audit(principal, f"lifespan.{action}", f"{market_id}#{change_id}", 1, request)
    return {
        "change": change.model_dump(mode="json") if change else None,
        "undone": undone,
        "market": market.model_dump(mode="json") if market else None,
        "action": actions[-1] if actions else None,
    }


@router.post("/lifespan/markets/{market_id}/changes/{change_id}/{action}", responses=answers(*AUTH, 404, 409, 413, 422))
def review_change(
    market_id: str,
    change_id: int,
    action: Literal["confirm", "reject", "undo"],
    request: Request,
    why: str | None = Query(None, max_length=2000),
    principal: Principal = Depends(require_roles("analyst")),
) -> dict[str, Any]:
    """An analyst reviews one transition: ``confirm`` it (a confirmed closure is sticky),
    ``reject`` the market's current transition (it returns to its previous state), or ``undo``
    the latest confirmation or rejection of it."""
    return _review(market_id, change_id, action, why, request, principal)


@router.get(
    "/lifespan",
    response_class=HTMLResponse,
    responses=answers(*AUTH, 400),
    dependencies=[page_params("confirmed_only")],
)
def lifespan_page(
    request: Request, confirmed_only: bool = Query(False), principal: Principal = Depends(_viewer)
) -> HTMLResponse:
    with _store(request) as store:
        rep = report(store, confirmed_only=confirmed_only)
        changes = [c.model_dump(mode="json") for c in store.state_changes()][-50:][::-1]
    _audit(principal, "lifespan.page", f"confirmed_only={confirmed_only}", len(rep["markets"]), request)
    return HTMLResponse(
        render_page(rep, changes), headers={"Content-Security-Policy": CSP, "X-Content-Type-Options": "nosniff"}
    )
