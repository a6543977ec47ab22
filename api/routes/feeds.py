"""Platform takedown feeds: the pull feed (JSON, NDJSON, CSV, STIX 2.1), platform feedback,
webhook subscription, the analyst review queue, evidence downloads and impact metrics.

A ``platform:<name>`` key reaches only ``/feeds/<name>/...``: another platform's path answers 403,
and another platform's notice id under its own path answers 404.  Analysts review; admins may do
everything.  Only the platform's own pull records a notice as sent (an admin looking at a feed
changes nothing).
"""

from __future__ import annotations

import threading
from datetime import datetime
from typing import Literal
from urllib.parse import urlsplit

from fastapi import APIRouter, Depends, HTTPException, Query, Request, Response
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, PlainTextResponse
from pydantic import Field, model_validator

from api.audit import record as audit
from api.auth import Principal
from api.deps import require_roles, settings_of
from api.forms import page_params
from api.openapi import AUTH, BINARY, BODY, TEXT, answers, body_types
from api.params import RequestBody
from takedown import delivery, formats, metrics
from takedown.evidence import public_key_b64
from takedown.notices import (
    MAX_QUESTION_CHARS,
    Feedback,
    Notice,
    NoticeStatus,
    render_letter,
    served_notice_schema,
)
from takedown.service import FeedService, NotFound, WorkflowError
from takedown.statement import StatementOfReasons
from takedown.store import ConflictError

router = APIRouter(prefix="/feeds", tags=["feeds"])
FEED_PAGE_SCHEMA = {
    "type": "object",
    "required": ["notices", "next_cursor", "has_more"],
    "properties": {
        "notices": {
            "type": "array",
            "items": {"type": "object", "description": "a notice; validates against GET /feeds/schema"},
        },
        "next_cursor": {"type": "string"},
        "has_more": {"type": "boolean"},
        "rate_limited": {"type": "boolean"},
    },
}
_lock = threading.Lock()


def _service(request: Request) -> FeedService:
    with _lock:
        service = getattr(request.app.state, "feed_service", None)
        if service is None:
            service = FeedService(settings_of(request))
            request.app.state.feed_service = service
        return service


def _platform_access(platform: str, principal: Principal, service: FeedService) -> None:
    if principal.platform is not None and principal.platform != platform:
        raise HTTPException(403, "this key belongs to another platform")
    if service.registry.get(platform) is None:
        raise HTTPException(404, f"unknown platform {platform!r}")


def _notice_or_404(service: FeedService, platform: str, notice_id: str) -> Notice:
    try:
        return service.get(notice_id, platform=platform)
    except NotFound:
        raise HTTPException(404, "no such notice on this platform") from None


# -- metrics (declared before /{platform} so the names do not collide) ---------------------
@router.get("/metrics", responses=answers(*AUTH))
def get_metrics(
    request: Request, year: int | None = None, principal: Principal = Depends(require_roles("analyst", "operator"))
) -> JSONResponse:
    """Impact figures as JSON."""
    return JSONResponse(metrics.as_dict(metrics.compute(_service(request).store, year=year)))


@router.get(
    "/metrics.html",
    response_class=HTMLResponse,
    responses=answers(*AUTH, 400),
    dependencies=[page_params("year")],
)
def get_metrics_page(
    request: Request, year: int | None = None, principal: Principal = Depends(require_roles("analyst", "operator"))
) -> HTMLResponse:
    """The impact page (escaped throughout)."""
    m = metrics.compute(_service(request).store, year=year)
    return HTMLResponse(
        metrics.render_html(m, plot_url="metrics.svg" + (f"?year={year}" if year else "")),
        headers={"Content-Security-Policy": "default-src 'none'; img-src 'self'; style-src 'unsafe-inline'"},
    )


@router.get(
    "/metrics.svg",
    response_class=Response,
    responses={**answers(*AUTH), **body_types("The plot", {"image/svg+xml": TEXT, "image/png": BINARY})},
)
def get_metrics_plot(
    request: Request,
    year: int | None = None,
    fmt: Literal["svg", "png"] = "svg",
    principal: Principal = Depends(require_roles("analyst", "operator")),
) -> Response:
    """Removed per month and the time-to-removal distribution as SVG (or ``fmt=png``)."""
    m = metrics.compute(_service(request).store, year=year)
    media = "image/svg+xml" if fmt == "svg" else "image/png"
    return Response(metrics.render_plot(m, fmt), media_type=media)


@router.get("/signing-key", response_class=PlainTextResponse)
def signing_key(request: Request) -> PlainTextResponse:
    """The public key evidence bundles are signed with: the WACZ signing spec's ``publicKey``
    (base64 DER SubjectPublicKeyInfo, ECDSA), public so that a receiver can check a bundle's
    origin with ``dragnet evidence verify --key``."""
    return PlainTextResponse(public_key_b64(settings_of(request)))


@router.get("/schema")
def get_schema() -> JSONResponse:
    """JSON Schema of a notice, for platforms writing a consumer (no key needed: it holds no data)."""
    return JSONResponse(served_notice_schema())


# -- the pull feed ----------------------------------------------------------------------------
def _parse_since(since: str, platform: str, service: FeedService) -> int:
    """A cursor, or an ISO 8601 time (first sync by date) turned into one."""
    if since.isdigit():
        return int(since)
    when = datetime.fromisoformat(since.replace("Z", "+00:00"))
    if when.tzinfo is None:
        raise ValueError("naive time")
    return service.store.cursor_at(platform, when)


@router.get(
    "/{platform}",
    response_class=Response,
    responses={
        **answers(*AUTH, 404, 422),
        **body_types(
            "A feed page in the format asked for",
            {
                formats.MEDIA_TYPES["json"]: FEED_PAGE_SCHEMA,
                formats.MEDIA_TYPES["ndjson"]: TEXT,
                formats.MEDIA_TYPES["csv"]: TEXT,
                formats.MEDIA_TYPES["stix"]: {"type": "object", "description": "a STIX 2.1 bundle"},
            },
        ),
    },
)
def pull_feed(
    platform: str,
    request: Request,
    since: str = Query("0", description="cursor: the next_cursor of the previous page (0: from the start)"),
    limit: int = Query(100, ge=1, le=1000),
    format: Literal["json", "ndjson", "csv", "stix"] = "json",
    principal: Principal = Depends(require_roles("platform")),
) -> Response:
    """Released notices changed after ``since``, oldest change first, tombstones included."""
    service = _service(request)
    _platform_access(platform, principal, service)
    try:
        cursor = _parse_since(since, platform, service)
    except ValueError:
        raise HTTPException(
            422, "since must be a cursor returned by this feed (a non-negative integer) or an ISO 8601 time with a zone"
        ) from None
    if principal.platform == platform:
        page = delivery.feed_page(service, platform, cursor, limit)
    else:  # an admin looking: read-only, no quota, nothing recorded as sent
        rows = service.store.feed(platform, cursor, limit + 1)
        page = delivery.FeedPage(
            rows=rows[:limit], next_cursor=rows[:limit][-1].seq if rows[:limit] else cursor, has_more=len(rows) > limit
        )
    audit(
        principal,
        "feeds.pull",
        f"platform={platform} since={cursor} format={format}",
        len(page.rows),
        settings=service.settings,
    )
    headers = {"X-Next-Cursor": str(page.next_cursor), "X-Has-More": str(page.has_more).lower()}
    if page.rate_limited:
        headers["Retry-After"] = str(page.retry_after_s)
        headers["X-Rate-Limited"] = "true"
    if format == "json":
        body = formats.to_json(page.rows, page.next_cursor, page.has_more, {"rate_limited": page.rate_limited})
    elif format == "ndjson":
        body = formats.to_ndjson(page.rows)
    elif format == "csv":
        body = formats.to_csv(page.rows)
    else:
        body = formats.to_stix([r for r in page.rows], service.settings.feeds.notifier_name)
    return Response(body, media_type=formats.MEDIA_TYPES[format], headers=headers)


@router.get("/{platform}/notices", responses=answers(*AUTH, 404))
def list_notices(
    platform: str,
    request: Request,
    status: NoticeStatus | None = Query(
        None, description="only notices in this status (need_more_info: open questions)"
    ),
    limit: int = Query(100, ge=1, le=1000),
    offset: int = Query(0, ge=0),
    principal: Principal = Depends(require_roles("analyst")),
) -> JSONResponse:
    """The analyst's view of a platform's notices.  ``status=new`` is the review queue, the least
    certain verdicts first (those nearest their threshold teach the model most)."""
    service = _service(request)
    _platform_access(platform, principal, service)
    if status == "new":
        notices = service.review_queue(platform, limit=limit, offset=offset)
    else:
        notices = service.store.list(platform=platform, status=status, limit=limit, offset=offset)
    audit(principal, "feeds.notices", f"platform={platform} status={status}", len(notices), settings=service.settings)
    return JSONResponse({"notices": [formats.notice_json(formats.FeedRow(seq=0, notice=n)) for n in notices]})


@router.get("/{platform}/notices/{notice_id}", responses=answers(*AUTH, 404))
def get_notice(
    platform: str,
    notice_id: str,
    request: Request,
    principal: Principal = Depends(require_roles("platform", "analyst")),
) -> JSONResponse:
    service = _service(request)
    _platform_access(platform, principal, service)
    notice = _notice_or_404(service, platform, notice_id)
    if principal.platform is not None and notice.time_of("approved") is None:
        raise HTTPException(404, "no such notice on this platform")
    audit(principal, "feeds.notice", f"platform={platform} notice={notice_id}", 1, settings=service.settings)
    return JSONResponse(formats.notice_json(formats.FeedRow(seq=0, notice=notice)))


@router.get(
    "/{platform}/notices/{notice_id}/evidence",
    response_class=FileResponse,
    responses={
        **answers(*AUTH, 404),
        **body_types("The evidence bundle (WACZ)", {"application/wacz+zip": BINARY}),
    },
)
def get_evidence(
    platform: str,
    notice_id: str,
    request: Request,
    principal: Principal = Depends(require_roles("platform", "analyst")),
) -> FileResponse:
    """The notice's evidence bundle (.wacz); ``dragnet evidence verify`` checks it."""
    service = _service(request)
    _platform_access(platform, principal, service)
    notice = _notice_or_404(service, platform, notice_id)
    if (principal.platform is not None and notice.time_of("approved") is None) or not notice.proof.bundle:
        raise HTTPException(404, "no evidence bundle for this notice")
    path = service.settings.paths.evidence_dir / notice.proof.bundle
    if path.parent != service.settings.paths.evidence_dir or not path.is_file():
        raise HTTPException(404, "evidence bundle missing")
    audit(principal, "feeds.evidence", f"platform={platform} notice={notice_id}", 1, settings=service.settings)
    return FileResponse(
        path,
        media_type="application/wacz+zip",
        filename=path.name,
        headers={"X-Content-SHA256": notice.proof.bundle_sha256 or ""},
    )


@router.get("/{platform}/notices/{notice_id}/letter", response_class=PlainTextResponse, responses=answers(*AUTH, 404))
def get_letter(
    platform: str,
    notice_id: str,
    request: Request,
    principal: Principal = Depends(require_roles("platform", "analyst")),
) -> PlainTextResponse:
    """The notice as a plain-text DSA Art. 16 notice, for form and e-mail reporting channels."""
    service = _service(request)
    _platform_access(platform, principal, service)
    notice = _notice_or_404(service, platform, notice_id)
    if principal.platform is not None and notice.time_of("approved") is None:
        raise HTTPException(404, "no such notice on this platform")
    audit(principal, "feeds.letter", f"platform={platform} notice={notice_id}", 1, settings=service.settings)
    return PlainTextResponse(render_letter(notice), headers={"X-Content-Type-Options": "nosniff"})


class FeedbackBody(RequestBody):
    kind: Feedback
    note: str | None = Field(default=None, max_length=2000)
    statement_of_reasons: StatementOfReasons | None = Field(
        default=None, description="The platform's statement of reasons (DSA Art. 17), with a decision."
    )
    question: str | None = Field(
        default=None,
        min_length=1,
        max_length=MAX_QUESTION_CHARS,
        description="What the platform needs to know; required with kind need_more_info, refused otherwise.",
    )

    @model_validator(mode="after")
    def _question_only_with_need_more_info(self) -> FeedbackBody:
        if (self.kind == "need_more_info") != (self.question is not None):
            raise ValueError("question is required with kind need_more_info and refused with any other kind")
        if self.kind == "need_more_info" and self.statement_of_reasons is not None:
            raise ValueError("a statement_of_reasons comes with a decision, not with need_more_info")
        return self


@router.post("/{platform}/notices/{notice_id}/feedback", responses=answers(*AUTH, 404, 409, *BODY))
def post_feedback(
    platform: str,
    notice_id: str,
    body: FeedbackBody,
    request: Request,
    principal: Principal = Depends(require_roles("platform")),
) -> JSONResponse:
    """The platform's answer: true_positive, false_positive, disputed, removed (each optionally
    with its DSA Art. 17 statement of reasons), or need_more_info with a question."""
    service = _service(request)
    _platform_access(platform, principal, service)
    try:
        notice = service.feedback(
            notice_id,
            platform,
            body.kind,
            by=f"{principal.role}:{principal.name}",
            note=body.note,
            statement=body.statement_of_reasons,
            question=body.question,
        )
    except NotFound:
        raise HTTPException(404, "no such notice on this platform") from None
    except (WorkflowError, ConflictError) as exc:
        raise HTTPException(409, str(exc)) from None
    audit(
        principal,
        "feeds.feedback",
        f"platform={platform} notice={notice_id} kind={body.kind}"
        + (" statement=yes" if body.statement_of_reasons else ""),
        1,
        settings=service.settings,
    )
    return JSONResponse(
        {"id": notice.id, "status": notice.status, "feedback": notice.feedback, "version": notice.version}
    )


class AnswerBody(RequestBody):
    answer: str = Field(min_length=1, max_length=MAX_QUESTION_CHARS)


@router.post("/{platform}/notices/{notice_id}/answer", responses=answers(*AUTH, 404, 409, *BODY))
def post_answer(
    platform: str,
    notice_id: str,
    body: AnswerBody,
    request: Request,
    principal: Principal = Depends(require_roles("analyst")),
) -> JSONResponse:
    """An analyst answers the platform's "need more information": the notice goes back to the
    platform (``sent``, re-queued in its feed and webhook) with the answer in ``info_requests``."""
    service = _service(request)
    _platform_access(platform, principal, service)
    _notice_or_404(service, platform, notice_id)
    try:
        notice = service.answer_info_request(notice_id, body.answer, by=f"{principal.role}:{principal.name}")
    except (WorkflowError, ConflictError) as exc:
        raise HTTPException(409, str(exc)) from None
    audit(principal, "feeds.answer", f"platform={platform} notice={notice_id}", 1, settings=service.settings)
    return JSONResponse({"id": notice.id, "status": notice.status, "version": notice.version})


class ReviewBody(RequestBody):
    decision: Literal["approve", "reject"]
    note: str | None = Field(default=None, max_length=2000)


@router.post("/{platform}/notices/{notice_id}/review", responses=answers(*AUTH, 404, 409, *BODY))
def post_review(
    platform: str,
    notice_id: str,
    body: ReviewBody,
    request: Request,
    principal: Principal = Depends(require_roles("analyst")),
) -> JSONResponse:
    """An analyst approves or rejects a new notice."""
    service = _service(request)
    _platform_access(platform, principal, service)
    _notice_or_404(service, platform, notice_id)
    try:
        notice = service.review(notice_id, body.decision, by=f"{principal.role}:{principal.name}", note=body.note)
    except (WorkflowError, ConflictError) as exc:
        raise HTTPException(409, str(exc)) from None
    audit(
        principal,
        "feeds.review",
        f"platform={platform} notice={notice_id} decision={body.decision}",
        1,
        settings=service.settings,
    )
    return JSONResponse({"id": notice.id, "status": notice.status, "version": notice.version})


class WithdrawBody(RequestBody):
    reason: str = Field(min_length=1, max_length=2000)


@router.post("/{platform}/notices/{notice_id}/withdraw", responses=answers(*AUTH, 404, 409, *BODY))
def post_withdraw(
    platform: str,
    notice_id: str,
    body: WithdrawBody,
    request: Request,
    principal: Principal = Depends(require_roles("analyst")),
) -> JSONResponse:
    """Take a notice back; the feed carries a tombstone (``should_delete``)."""
    service = _service(request)
    _platform_access(platform, principal, service)
    _notice_or_404(service, platform, notice_id)
    try:
        notice = service.withdraw(notice_id, by=f"{principal.role}:{principal.name}", reason=body.reason)
    except ConflictError as exc:
        raise HTTPException(409, str(exc)) from None
    audit(principal, "feeds.withdraw", f"platform={platform} notice={notice_id}", 1, settings=service.settings)
    return JSONResponse({"id": notice.id, "status": notice.status, "should_delete": notice.should_delete})


class WebhookBody(RequestBody):
    url: str = Field(max_length=2000)


@router.put("/{platform}/webhook", responses=answers(*AUTH, 404, *BODY))
def put_webhook(
    platform: str, body: WebhookBody, request: Request, principal: Principal = Depends(require_roles("platform"))
) -> JSONResponse:
    """Register the platform's webhook; the signing secret is returned once."""
    service = _service(request)
    _platform_access(platform, principal, service)
    host = urlsplit(body.url).hostname or "?"
    try:
        secret = delivery.subscribe(service, platform, body.url)
    except delivery.WebhookURLError as exc:
        audit(principal, "feeds.webhook", f"platform={platform} host={host} [refused]", 0, settings=service.settings)
        raise HTTPException(422, str(exc)) from None
    audit(principal, "feeds.webhook", f"platform={platform} host={host}", 1, settings=service.settings)
    return JSONResponse(
        {
            "platform": platform,
            "url": body.url,
            "secret": secret,
            "signature": "X-Dragnet-Signature: v1=hex(HMAC-SHA256(secret, timestamp + '.' + body))",
            "replay_window_s": service.settings.feeds.webhook_replay_window_s,
        }
    )


@router.post("/{platform}/webhook/test", responses=answers(*AUTH, 404))
def post_webhook_test(
    platform: str, request: Request, principal: Principal = Depends(require_roles("platform", "operator"))
) -> JSONResponse:
    """Send a signed test event (``webhook.test``, ``"test": true``, header ``X-Dragnet-Test: true``)
    to the registered webhook and report the receiver's HTTP status."""
    service = _service(request)
    _platform_access(platform, principal, service)
    try:
        result = delivery.send_test_event(service, platform)
    except delivery.NoWebhook:
        raise HTTPException(404, "this platform has registered no webhook") from None
    audit(
        principal,
        "feeds.webhook_test",
        f"platform={platform} status={result.status_code}",
        int(result.delivered),
        settings=service.settings,
    )
    return JSONResponse(
        {
            "event": delivery.TEST_EVENT,
            "id": result.event_id,
            "delivered": result.delivered,
            "status_code": result.status_code,
            "error": result.error,
        }
    )


class RotateBody(RequestBody):
    overlap_s: int = Field(
        default=delivery.DEFAULT_OVERLAP_S,
        ge=0,
        le=delivery.MAX_OVERLAP_S,
        description="How long deliveries stay signed by the old secret too (seconds; 0: not at all).",
    )


@router.post("/{platform}/webhook/rotate", responses=answers(*AUTH, 404, 409, *BODY))
def post_webhook_rotate(
    platform: str, body: RotateBody, request: Request, principal: Principal = Depends(require_roles("platform"))
) -> JSONResponse:
    """A new signing secret (returned once).  Until ``previous_valid_until`` every delivery carries
    two signatures, ``v1=<new>,v1=<old>``; afterwards only the new one."""
    service = _service(request)
    _platform_access(platform, principal, service)
    try:
        sub = delivery.rotate_secret(service, platform, body.overlap_s)
    except delivery.NoWebhook:
        raise HTTPException(404, "this platform has registered no webhook") from None
    except delivery.WebhookBusy as exc:
        raise HTTPException(409, str(exc)) from None
    audit(
        principal,
        "feeds.webhook_rotate",
        f"platform={platform} overlap_s={body.overlap_s}",
        1,
        settings=service.settings,
    )
    return JSONResponse(
        {
            "platform": platform,
            "secret": sub.secret,
            "previous_valid_until": sub.previous_secret_until.isoformat() if sub.previous_secret_until else None,
            "signature": "X-Dragnet-Signature: v1=<new>[,v1=<old> during the overlap]",
        }
    )


@router.post("/{platform}/deliver", responses=answers(*AUTH, 404, 413))
def post_deliver(
    platform: str, request: Request, principal: Principal = Depends(require_roles("operator"))
) -> JSONResponse:
    """Push pending notices to the platform's webhook now (the workers do it on a schedule)."""
    service = _service(request)
    _platform_access(platform, principal, service)
    delivered = delivery.deliver_pending(platform, service.settings, service)
    audit(principal, "feeds.deliver", f"platform={platform}", delivered, settings=service.settings)
    return JSONResponse({"delivered": delivered})


@router.get("/{platform}/deliveries", responses=answers(*AUTH, 404))
def get_deliveries(
    platform: str,
    request: Request,
    limit: int = Query(100, ge=1, le=1000),
    principal: Principal = Depends(require_roles("platform", "operator")),
) -> JSONResponse:
    """The delivery log (every webhook attempt and every first-time pull)."""
    service = _service(request)
    _platform_access(platform, principal, service)
    return JSONResponse({"deliveries": [r.model_dump(mode="json") for r in service.store.deliveries(platform, limit)]})
