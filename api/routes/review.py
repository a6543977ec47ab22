"""The review queue and notices asked for from listings: JSON API and pages.

API: ``POST /api/notices`` (notices from listings, pending review), ``GET /api/review/queue``
(pending notices, least certain first, as ``dragnet feeds queue``), ``POST /api/review/decisions``
(approve or reject many notices, with a reason).  Pages: ``/review`` (the queue as a form with
checkboxes; access keys a, r, n), ``POST /review/decide``, ``POST /review/notices`` (the button
on a listing page and the bulk action on search results).  Analysts (and admins) only; every
notice made or decided is audited, one entry per notice (:mod:`api.review`)."""

from __future__ import annotations

from urllib.parse import urlencode

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from pydantic import Field

from api import audit
from api.auth import Principal
from api.deps import get_store, listing_store, require_roles, settings_of
from api.forms import BULK_FIELDS, first, refuse_unknown_params, selected_ids
from api.openapi import AUTH, BODY, answers
from api.params import RequestBody
from api.review import MAX_BATCH, MAX_REASON, Decision, DecisionOutcome, ListingNotices, decide, notices_from_listings
from api.routes.feeds import _service as feed_service
from api.routes.ui import _gate, gated_form, render
from takedown import formats

router = APIRouter(tags=["review"])
analyst = require_roles("analyst")
PAGE_SIZE = 25


class NoticesIn(RequestBody):
    listing_ids: list[str] = Field(..., min_length=1, max_length=MAX_BATCH)


class DecisionsIn(RequestBody):
    notice_ids: list[str] = Field(..., min_length=1, max_length=MAX_BATCH)
    decision: Decision
    reason: str | None = Field(None, max_length=MAX_REASON, description="required to reject")


@router.post("/api/notices", response_model=list[ListingNotices], status_code=201, responses=answers(*AUTH, *BODY, 503))
def create_notices(request: Request, body: NoticesIn, principal: Principal = Depends(analyst)) -> list[ListingNotices]:
    """Takedown notices for these listings, one per platform that can act on each; they wait for
    review like every other new notice."""
    return notices_from_listings(
        feed_service(request), listing_store(request), principal, body.listing_ids, settings_of(request)
    )


@router.get("/api/review/queue", responses=answers(400, *AUTH, 422))
def review_queue(
    request: Request,
    platform: str | None = Query(None, max_length=64),
    limit: int = Query(100, ge=1, le=1000),
    offset: int = Query(0, ge=0),
    principal: Principal = Depends(analyst),
) -> JSONResponse:
    """Notices awaiting review on every platform (or one), the least certain first."""
    refuse_unknown_params(request, ("platform", "limit", "offset"))
    notices = feed_service(request).review_queue(platform or None, limit=limit, offset=offset)
    audit.record(principal, "review.queue", f"platform={platform or ''}", len(notices), settings=settings_of(request))
    return JSONResponse({"notices": [formats.notice_json(formats.FeedRow(seq=0, notice=n)) for n in notices]})


@router.post("/api/review/decisions", response_model=list[DecisionOutcome], responses=answers(400, *AUTH, *BODY))
def post_decisions(
    request: Request, body: DecisionsIn, principal: Principal = Depends(analyst)
) -> list[DecisionOutcome]:
    """Approve or reject many notices at once; each answer says whether that notice moved."""
    try:
        return decide(
            feed_service(request), principal, body.notice_ids, body.decision, body.reason, settings_of(request)
        )
    except ValueError as exc:
        raise HTTPException(400, str(exc)) from exc


# -- pages ------------------------------------------------------------------------------------------
_PAGE_PARAMS = ("platform", "offset", "approve", "reject", "failed", "created", "existing", "refused", "error")


def _count(request: Request, name: str) -> int:
    value = request.query_params.get(name, "0")
    return int(value) if value.isdigit() and len(value) < 7 else 0


@router.get("/review", include_in_schema=False)
def review_page(request: Request) -> Response:
    gate = _gate(request, "analyst")
    if not isinstance(gate, Principal):
        return gate
    try:
        refuse_unknown_params(request, _PAGE_PARAMS)
    except HTTPException as exc:
        return render(request, "error.html", status=400, title="Bad request", message=str(exc.detail))
    platform = request.query_params.get("platform", "")[:64] or None
    offset = _count(request, "offset")
    service = feed_service(request)
    notices = service.review_queue(platform, limit=PAGE_SIZE + 1, offset=offset)
    audit.record(gate, "review.queue", f"platform={platform or ''}", len(notices), settings=settings_of(request))
    more = len(notices) > PAGE_SIZE
    next_url = "/review?" + urlencode({k: v for k, v in (("platform", platform), ("offset", offset + PAGE_SIZE)) if v})
    return render(
        request,
        "review.html",
        notices=notices[:PAGE_SIZE],
        next_url=next_url if more else None,
        platform=platform or "",
        done={
            name: _count(request, name) for name in ("approve", "reject", "failed", "created", "existing", "refused")
        },
        error=request.query_params.get("error") == "reason",
    )


@router.post("/review/decide", include_in_schema=False)
async def review_decide(request: Request) -> Response:
    gated = await gated_form(request, "analyst", ("notice_id", "decision", "reason", "platform"))
    if isinstance(gated, Response):
        return gated
    gate, form = gated
    decision = first(form, "decision")
    if decision not in ("approve", "reject"):
        return render(request, "error.html", status=400, title="Bad request", message="Choose approve or reject.")
    ids = form.get("notice_id", [])[:MAX_BATCH]
    try:
        outcomes = decide(feed_service(request), gate, ids, decision, first(form, "reason"), settings_of(request))  # type: ignore[arg-type]
    except ValueError:
        return RedirectResponse("/review?error=reason", status_code=303)
    done = sum(1 for o in outcomes if o.ok)
    query = {decision: done, "failed": len(outcomes) - done}
    return RedirectResponse("/review?" + urlencode(query), status_code=303)


@router.post("/review/notices", include_in_schema=False)
async def review_notices_from_listings(request: Request) -> Response:
    gated = await gated_form(request, "analyst", BULK_FIELDS)
    if isinstance(gated, Response):
        return gated
    gate, form = gated
    ids = selected_ids(form, "listing_id", MAX_BATCH)
    if not ids:
        return render(request, "error.html", status=400, title="Bad request", message="Select at least one listing.")
    outcomes = notices_from_listings(feed_service(request), get_store(request), gate, ids, settings_of(request))
    query = {
        "created": sum(len(o.created) for o in outcomes),
        "existing": sum(len(o.existing) for o in outcomes),
        "refused": sum(1 for o in outcomes if o.refused),
    }
    return RedirectResponse("/review?" + urlencode(query), status_code=303)


__all__ = ["router"]
