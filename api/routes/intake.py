"""``/api/v1/intake``: continuous intake for platforms (see :mod:`api.intake`): push posts, read
verdicts by cursor.  Platform keys and admins only; every push is audited with counts, never text."""

from __future__ import annotations

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import JSONResponse
from pydantic import Field

from api import audit, telemetry
from api import intake as streams
from api import scan as scanning
from api.auth import Principal
from api.deps import require_roles, settings_of
from api.openapi import AUTH, BODY, answers
from api.params import RequestBody
from api.routes.scan import ScanPost

router = APIRouter(prefix="/api/v1/intake", tags=["scan"])
platform_or_admin = require_roles("platform")


class IntakeBody(RequestBody):
    posts: list[ScanPost] = Field(min_length=1, max_length=1000)


@router.post("", status_code=202, responses=answers(*AUTH, *BODY, 404, 429))
def push(body: IntakeBody, request: Request, principal: Principal = Depends(platform_or_admin)) -> JSONResponse:
    """Queue posts for classification; 202 once they are durable.  429 with ``Retry-After``
    while too many of this platform's posts wait for a verdict."""
    settings = settings_of(request)
    owner = scanning.owner_of(principal)
    too_long = [p.id for p in body.posts if len(p.text) > settings.api.scan_max_text_chars]
    if too_long:
        raise HTTPException(413, f"post text over {settings.api.scan_max_text_chars} characters: {too_long[:5]}")
    try:
        ids = streams.push(settings, owner, [(p.id, p.text) for p in body.posts])
    except streams.IntakeUnavailable as exc:  # this deployment has no broker: the feature is absent here
        telemetry.count("intake_posts", len(body.posts), outcome="unavailable")
        raise HTTPException(404, str(exc)) from None
    except streams.Backlogged as exc:
        audit.record(principal, "intake", f"posts={len(body.posts)} [backlogged: {exc.backlog}]", 0, settings)
        telemetry.count("intake_posts", len(body.posts), outcome="backlogged")
        return JSONResponse(
            {"detail": str(exc), "backlog": exc.backlog},
            status_code=429,
            headers={"Retry-After": str(exc.retry_after_s)},
        )
    audit.record(principal, "intake", f"posts={len(ids)}", len(ids), settings)
    telemetry.count("intake_posts", len(ids), outcome="queued")
    return JSONResponse({"queued": len(ids), "stream_ids": ids}, status_code=202)


@router.get("/verdicts", responses=answers(*AUTH, 400, 404, 422))
def verdicts(
    request: Request,
    after: str = Query("0", max_length=40, pattern=r"^\d+(-\d+)?$"),
    limit: int = Query(100, ge=1, le=1000),
    principal: Principal = Depends(platform_or_admin),
) -> JSONResponse:
    """This platform's verdicts after ``after`` (pass back ``next`` to continue), oldest first."""
    settings = settings_of(request)
    try:
        found, cursor = streams.read_verdicts(settings, scanning.owner_of(principal), after, limit)
    except streams.IntakeUnavailable as exc:
        raise HTTPException(404, str(exc)) from None
    except ValueError as exc:
        raise HTTPException(400, str(exc)) from None
    return JSONResponse({"verdicts": found, "next": cursor})
