"""``/api/v1/scan``: platforms send their own posts and get ``dragnet classify``'s verdict for
each (see :mod:`api.scan`).  Platform keys and admins only; every call is audited with counts,
never text."""

from __future__ import annotations

import threading
from datetime import datetime
from urllib.parse import urlsplit

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import JSONResponse
from pydantic import Field, StrictInt, StrictStr, field_validator

from api import audit, telemetry
from api import scan as scanning
from api.auth import Principal
from api.deps import require_roles, settings_of
from api.openapi import AUTH, BODY, answers
from api.params import RequestBody
from dragnet.outbound import WebhookURLError, check_url

router = APIRouter(prefix="/api/v1/scan", tags=["scan"])
platform_or_admin = require_roles("platform")
_jobs_lock = threading.Lock()
MAX_POSTS_PARSED = 100_000  # a hard bound on any body; api.scan_max_posts is the real limit


class ScanPost(RequestBody):
    id: StrictStr | StrictInt = Field(description="the platform's id of the post")
    text: str = Field(min_length=1, max_length=1_000_000)
    url: str | None = Field(default=None, max_length=2000)
    author: str | None = Field(default=None, max_length=500)
    lang: str | None = Field(default=None, max_length=35)
    created_at: datetime | None = None

    @field_validator("id")
    @classmethod
    def _id_size(cls, value: str | int) -> str | int:
        if isinstance(value, str) and not 1 <= len(value) <= 256:
            raise ValueError("id must be 1 to 256 characters")
        if isinstance(value, int) and not -(2**63) <= value < 2**63:
            raise ValueError("id must be a 64-bit integer")
        return value

    @field_validator("text")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("text is empty")
        return value


class ScanBody(RequestBody):
    posts: list[ScanPost] = Field(min_length=1, max_length=MAX_POSTS_PARSED)
    callback_url: str | None = Field(
        default=None, max_length=2000, description="run as a job and POST the results here, signed"
    )
    notices: bool = Field(
        default=False,
        description="hits whose url is on the calling platform become takedown notices in Dragnet's review queue, "
        "with the platform's own ids (synchronous calls only)",
    )


def _jobs(request: Request) -> scanning.ScanJobs:
    with _jobs_lock:
        jobs = getattr(request.app.state, "scan_jobs", None)
        if jobs is None:
            jobs = scanning.ScanJobs(settings_of(request))
            request.app.state.scan_jobs = jobs
        return jobs


@router.post("", responses=answers(*AUTH, *BODY, 429))
def post_scan(body: ScanBody, request: Request, principal: Principal = Depends(platform_or_admin)) -> JSONResponse:
    """Up to ``api.scan_sync_max`` posts: each post's verdict now (200).  More, or a
    ``callback_url``: a job (202) to poll at ``/api/v1/scan/jobs/{id}``."""
    settings = settings_of(request)
    api = settings.api
    n = len(body.posts)
    owner = scanning.owner_of(principal)
    if n > api.scan_max_posts:
        audit.record(principal, "scan", f"posts={n} [refused: over {api.scan_max_posts}]", 0, settings)
        telemetry.count("scan_refused", reason="too_many")
        raise HTTPException(413, f"at most {api.scan_max_posts} posts per call")
    too_long = [i for i, p in enumerate(body.posts) if len(p.text) > api.scan_max_text_chars]
    if too_long:
        telemetry.count("scan_refused", reason="too_long")
        raise HTTPException(422, f"post {too_long[0]}: text over {api.scan_max_text_chars} characters")
    if body.callback_url is not None:
        try:
            check_url(
                body.callback_url, allow_private=settings.feeds.webhook_allow_private, https_only=settings.env == "prod"
            )
        except WebhookURLError as exc:
            host = urlsplit(body.callback_url).hostname or "?"
            audit.record(principal, "scan", f"posts={n} callback_host={host} [refused]", 0, settings)
            telemetry.count("scan_refused", reason="callback")
            raise HTTPException(422, f"callback_url refused: {exc}") from None
    wait = scanning.take_quota(settings, owner, n)
    if wait is not None:
        audit.record(principal, "scan", f"posts={n} [quota]", 0, settings)
        telemetry.count("scan_refused", reason="quota")
        raise HTTPException(
            429,
            f"over the scan quota of {api.scan_quota_per_minute} posts per minute",
            headers={"Retry-After": str(wait)},
        )
    posts = [(p.id, p.text) for p in body.posts]
    if n > api.scan_sync_max or body.callback_url is not None:
        job = _jobs(request).submit(principal, posts, body.callback_url)
        audit.record(principal, "scan", f"posts={n} hits=pending job={job.id}", n, settings)
        telemetry.count("scan_posts", n, outcome="queued")
        content: dict = {
            "job_id": job.id,
            "status": job.status,
            "posts": n,
            "poll_url": f"{router.prefix}/jobs/{job.id}",
        }
        if job.secret is not None:
            content |= {
                "callback_secret": job.secret,
                "signature": "X-Dragnet-Signature: v1=hex(HMAC-SHA256(callback_secret, timestamp + '.' + body))",
                "replay_window_s": settings.feeds.webhook_replay_window_s,
            }
        return JSONResponse(content, status_code=202)
    scanning.purge(settings)
    results = scanning.scan(settings, owner, posts)
    hits = scanning.hits_of(results)
    audit.record(principal, "scan", f"posts={n} hits={hits}", n, settings)
    telemetry.count("scan_posts", hits, outcome="hit")
    telemetry.count("scan_posts", n - hits, outcome="clean")
    answer: dict = {"posts": n, "hits": hits, "results": results}
    if body.notices:
        answer["notices"] = scanning.hits_to_notices(settings, principal, body.posts, results)
    return JSONResponse(answer)


@router.get("/jobs/{job_id}", responses=answers(*AUTH, 404, 422))
def get_job(job_id: str, request: Request, principal: Principal = Depends(platform_or_admin)) -> JSONResponse:
    """A job's state, and its results once done (only for the caller that made it)."""
    job = _jobs(request).get(job_id, principal)
    if job is None:
        raise HTTPException(404, "no such scan job")
    audit.record(principal, "scan.job", f"job={job_id} status={job.status}", job.done, settings_of(request))
    return JSONResponse(job.public())
