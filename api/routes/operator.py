"""The operator's landing page (crawl, queue and market status in one view) and the admins'
key list: server-rendered pages for the roles that cannot use the search page.

Nothing new is measured here: the page reads what the lifespan store (market states, last
probes), the takedown store (notices per platform and state) and the listing store (newest
sighting per market) already hold."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from fastapi import APIRouter, Request
from fastapi.responses import Response

from api import audit
from api.auth import KeyStore, Principal
from api.deps import get_store, settings_of
from api.forms import page_params
from api.routes.feeds import _service as feed_service
from api.routes.ui import _gate, render
from index.store import ListingStore, SearchQuery, StoreError
from lifespan.store import LifespanStore
from takedown import metrics

router = APIRouter(include_in_schema=False)
MAX_MARKETS = 50


@dataclass
class CrawlStatus:
    market: str
    listings: int
    last_seen: datetime | None
    last_crawled: datetime | None


def crawl_status(store: ListingStore) -> list[CrawlStatus]:
    """Per market in the listing store: its listings and the newest sighting and crawl."""
    facets = store.search(SearchQuery(size=0, highlight=False)).facets.get("market", [])
    out = []
    for bucket in facets[:MAX_MARKETS]:
        page = store.search(SearchQuery(market=[bucket.value], sort="newest", size=1, facets=False, highlight=False))
        newest = page.hits[0].listing if page.hits else None
        out.append(
            CrawlStatus(
                bucket.value, bucket.count, newest.last_seen if newest else None, newest.crawled_at if newest else None
            )
        )
    return out


def _when(stamp: float | None) -> str:
    return datetime.fromtimestamp(stamp, UTC).strftime("%Y-%m-%d %H:%M") if stamp else ""


@router.get("/operator", dependencies=[page_params()])
def operator_page(request: Request) -> Response:
    gate = _gate(request, "operator")
    if not isinstance(gate, Principal):
        return gate
    settings = settings_of(request)
    problems = []
    with LifespanStore(settings=settings) as lifespan:
        markets = [
            {
                "name": m.name,
                "state": m.state.value,
                "suspected": m.suspected,
                "last_probe": _when(m.last_probe_at),
                "last_seen": _when(m.last_seen),
                "failures": m.consecutive_failures,
            }
            for m in lifespan.markets()
        ]
    queue = metrics.compute(feed_service(request).store).platforms
    try:
        crawls = crawl_status(get_store(request))
    except StoreError as exc:
        crawls = []
        problems.append(f"The listing store is unavailable: {exc}")
    audit.record(gate, "operator.page", "", len(markets), settings=settings)
    return render(request, "operator.html", markets=markets, queue=queue, crawls=crawls, problems=problems)


@router.get("/keys", dependencies=[page_params()])
def keys_page(request: Request) -> Response:
    gate = _gate(request, "admin")
    if not isinstance(gate, Principal):
        return gate
    keys = KeyStore(settings_of(request)).list_keys()
    audit.record(gate, "keys.list", "page", len(keys), settings=settings_of(request))
    return render(request, "keys.html", keys=keys)


__all__ = ["crawl_status", "router"]
