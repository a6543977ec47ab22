"""``GET /api/crawls`` and the page ``/operator/crawls``: per site, its last crawl (start, end),
pages, listings, errors and gate pauses, from the crawl-runs file the crawler appends to
(:mod:`crawlers.runlog`).  Operator data: an operator (or admin) key, like the landing page.

Dragnet schedules no crawl itself (cron, a compose service or an operator starts ``dragnet
crawl``), so the next run is unknown here and said so, never guessed."""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from pydantic import BaseModel

from api import audit
from api.auth import Principal
from api.deps import require_roles, settings_of
from api.forms import page_params, refuse_unknown_params
from api.openapi import AUTH, answers
from api.routes.ui import _gate, render
from crawlers.runlog import read_runs, site_status
from dragnet.settings import DragnetSettings

router = APIRouter(tags=["operator"])
MAX_SITES = 500


class CrawlSiteStatus(BaseModel):
    """One site's last crawl, as the crawler recorded it when that crawl ended."""

    site: str
    started_at: float
    ended_at: float
    pages: int
    listings: int
    errors: int
    gate_pauses: int
    finish_reason: str
    runs: int  # runs of this site in the file's recent part
    next_run_at: float | None = None  # crawls are started from outside Dragnet: unknown here


def crawl_sites(settings: DragnetSettings) -> list[CrawlSiteStatus]:
    """Newest crawl first, at most :data:`MAX_SITES` sites."""
    rows = site_status(read_runs(settings.paths.crawl_runs_file))[:MAX_SITES]
    return [CrawlSiteStatus(**row) for row in rows]


@router.get("/api/crawls", response_model=list[CrawlSiteStatus], responses=answers(400, *AUTH))
def list_crawls(request: Request, principal: Principal = Depends(require_roles("operator"))) -> list[CrawlSiteStatus]:
    """Per site: last crawl start and end, pages, listings, errors, gate pauses, finish reason."""
    refuse_unknown_params(request, ())
    settings = settings_of(request)
    sites = crawl_sites(settings)
    audit.record(principal, "crawls.list", "api", len(sites), settings=settings)
    return sites


def _when(stamp: float | None) -> str:
    return datetime.fromtimestamp(stamp, UTC).strftime("%Y-%m-%d %H:%M") if stamp else ""


@router.get("/operator/crawls", include_in_schema=False, dependencies=[page_params()])
def crawls_page(request: Request) -> Response:
    gate = _gate(request, "operator")
    if not isinstance(gate, Principal):
        return gate
    settings = settings_of(request)
    sites = crawl_sites(settings)
    audit.record(gate, "crawls.page", "", len(sites), settings=settings)
    rows = [{**site.model_dump(), "started": _when(site.started_at), "ended": _when(site.ended_at)} for site in sites]
    return render(request, "crawls.html", sites=rows)
