"""Prometheus counters of the API process, and the ASGI middleware that counts every request.

Served on ``/metrics`` (:mod:`api.routes.metrics`) together with the feed counters the same
process increments (:mod:`takedown.telemetry`).  Labels are bounded so that no caller can grow
the series without limit: a request is counted by its route *template* (``/api/listings/{doc_id}``,
never the raw path), by method (unknown methods as ``OTHER``) and by status class; scan and
intake counters carry fixed outcome sets, never a platform name or a post id.

Counters are created on first use and live in the process's default registry, so that several
apps in one process (tests) share them rather than register them twice.
"""

from __future__ import annotations

import threading
from typing import Any

from prometheus_client import REGISTRY, Counter, generate_latest
from starlette.routing import Mount
from starlette.types import ASGIApp, Message, Receive, Scope, Send

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")
STATUS_CLASSES = ("2xx", "3xx", "4xx", "5xx")
UNMATCHED = "unmatched"  # no route matched (404s on unknown paths share one series)

# Every outcome of each counter, known in advance (each series exists at zero from the start).
SCAN_OUTCOMES = ("hit", "clean", "queued")
SCAN_REFUSALS = ("too_many", "too_long", "callback", "quota")
INTAKE_OUTCOMES = ("queued", "backlogged", "unavailable")

_lock = threading.Lock()
_counters: dict[str, Counter] | None = None


def counters() -> dict[str, Counter]:
    """The API's counters, created once per process."""
    global _counters
    with _lock:
        if _counters is None:
            _counters = {
                "requests": Counter(
                    "dragnet_api_requests_total",
                    "HTTP requests by method, route template and status class.",
                    ["method", "route", "status"],
                ),
                "scan_posts": Counter(
                    "dragnet_api_scan_posts_total",
                    "Posts sent to /api/v1/scan: answered as a hit or clean, or queued as a job.",
                    ["outcome"],
                ),
                "scan_refused": Counter(
                    "dragnet_api_scan_refused_total",
                    "Scan calls refused: too many posts, a text too long, a refused callback, over quota.",
                    ["reason"],
                ),
                "intake_posts": Counter(
                    "dragnet_api_intake_posts_total",
                    "Posts pushed to /api/v1/intake: queued, refused by back-pressure, or no broker.",
                    ["outcome"],
                ),
            }
        return _counters


def count(name: str, amount: float = 1, **labels: str) -> None:
    """Increment a counter; telemetry never fails a request."""
    try:
        counters()[name].labels(**labels).inc(amount)
    except Exception:  # noqa: BLE001 - telemetry never fails a request
        pass


def _walk(routes: Any, prefix: str = "") -> Any:
    for route in routes:
        inner = getattr(route, "original_router", None)  # a router included into the app
        if inner is not None:
            context = getattr(route, "include_context", None)
            yield from _walk(inner.routes, prefix + (getattr(context, "prefix", "") or ""))
        else:
            yield prefix, route


def route_templates(app: Any) -> list[tuple[str, str]]:
    """(method, template) of every route of ``app``, the label values requests can take."""
    out: set[tuple[str, str]] = set()
    for prefix, route in _walk(getattr(app, "routes", [])):
        path = getattr(route, "path", None)
        if not path:
            continue
        methods = getattr(route, "methods", None) or ({"GET", "HEAD"} if isinstance(route, Mount) else set())
        out.update((method, prefix + path) for method in methods if method in METHODS)
    return sorted(out)


def prime(app: Any) -> None:
    """Create every series known in advance at zero: each route's methods by status class and
    each fixed outcome (``rate()`` then works from the first scrape)."""
    c = counters()
    for method, path in route_templates(app):
        for status in STATUS_CLASSES:
            c["requests"].labels(method=method, route=path, status=status)
    for outcome in SCAN_OUTCOMES:
        c["scan_posts"].labels(outcome=outcome)
    for reason in SCAN_REFUSALS:
        c["scan_refused"].labels(reason=reason)
    for outcome in INTAKE_OUTCOMES:
        c["intake_posts"].labels(outcome=outcome)


def exposition() -> bytes:
    """This process's metrics in the Prometheus text format."""
    return generate_latest(REGISTRY)


def _template(scope: Scope) -> str:
    route = scope.get("route")
    path = getattr(route, "path", None)
    return path if isinstance(path, str) and path else UNMATCHED


class RequestMetrics:
    """Pure ASGI middleware (streams pass through untouched): counts each HTTP request once its
    answer has started, by the route template the router matched.  A request whose handler
    raised is counted as a 5xx before the error travels on."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = 500

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        except Exception:
            status = 500
            raise
        finally:
            method = scope.get("method", "")
            count(
                "requests",
                method=method if method in METHODS else "OTHER",
                route=_template(scope),
                status=f"{min(max(status // 100, 1), 5)}xx",
            )
