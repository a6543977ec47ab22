"""The FastAPI application.  Each area contributes a router module (``api/routes/<area>.py``
exposing ``router``), included here by name: a router that is missing fails at import.

The listing store is opened once per app (:func:`api.deps.get_store`) and closed on shutdown.  Every
response carries a strict Content-Security-Policy (no scripts at all: the UI is server-rendered)
as a second wall behind the escaping of scraped text."""

from __future__ import annotations

import math
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import APIRouter, FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles

from api.auth import COOKIE_NAME
from api.bodyguard import BodyGuard
from api.deps import current_principal
from api.forms import UnknownPageParams
from api.routes.case_pages import router as case_pages_router
from api.routes.cases import router as cases_router
from api.routes.crawls import router as crawls_router
from api.routes.entities import router as entities_router
from api.routes.feeds import router as feeds_router
from api.routes.health import router as health_router
from api.routes.intake import router as intake_router
from api.routes.lifespan import router as lifespan_router
from api.routes.metrics import router as metrics_router
from api.routes.operator import router as operator_router
from api.routes.review import router as review_router
from api.routes.scan import router as scan_router
from api.routes.search import router as search_router
from api.routes.ui import render
from api.routes.ui import router as ui_router
from api.telemetry import RequestMetrics
from dragnet import __version__
from dragnet.settings import DragnetSettings, get_settings
from index.store import ListingStore

ROUTERS: tuple[APIRouter, ...] = (
    health_router,
    search_router,
    ui_router,
    operator_router,
    feeds_router,
    lifespan_router,
    scan_router,
    intake_router,
    entities_router,
)
ROUTERS += (cases_router, case_pages_router, review_router)  # analysts' case work and the review queue
ROUTERS += (metrics_router,)  # Prometheus /metrics (operator key)
ROUTERS += (crawls_router,)  # per-site crawl runs (operator key)
STATIC_DIR = Path(__file__).with_name("static")
CSP = (
    "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
)


def _json_safe(value: Any, depth: int = 0) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, str):
        return value[:200]
    if value is None or isinstance(value, bool | int | float):
        return value
    if depth < 3 and isinstance(value, list | tuple):
        return [_json_safe(item, depth + 1) for item in value[:20]]
    if depth < 3 and isinstance(value, dict):
        return {str(key)[:100]: _json_safe(item, depth + 1) for key, item in list(value.items())[:20]}
    return repr(value)[:200]


def _safe_error(error: Any) -> dict[str, Any]:
    return {key: _json_safe(error.get(key)) for key in ("type", "loc", "msg", "input") if key in error}


def create_app(settings: DragnetSettings | None = None, store: ListingStore | None = None) -> FastAPI:
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        opened = getattr(app.state, "store", None)
        if opened is not None and store is None:
            opened.close()
        jobs = getattr(app.state, "scan_jobs", None)
        if jobs is not None:
            jobs.shutdown()

    app = FastAPI(
        title="Dragnet",
        version=__version__,
        lifespan=lifespan,
        description="Analyst search, platform takedown feeds, operator and lifespan views.",
    )
    app.state.settings = settings
    app.state.store = store

    @app.middleware("http")
    async def security_headers(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        response = await call_next(request)
        if not request.url.path.startswith(("/docs", "/redoc")):  # Swagger UI needs its own scripts
            response.headers.setdefault("Content-Security-Policy", CSP)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "no-referrer")
        response.headers.setdefault("X-Frame-Options", "DENY")
        return response

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError) -> JSONResponse:
        """422 with the reasons, echoing at most a short, JSON-safe piece of the input (a NaN
        in a body would otherwise make the error response itself fail with a 500)."""
        return JSONResponse(status_code=422, content={"detail": [_safe_error(error) for error in exc.errors()]})

    @app.exception_handler(UnknownPageParams)
    async def unknown_page_params(request: Request, exc: UnknownPageParams) -> Response:
        """A page asked with a parameter it does not read: the error page, naming it."""
        current_principal(request)  # the header's navigation for a signed-in user
        return render(request, "error.html", status=400, title="Bad request", message=str(exc))

    app.add_middleware(
        BodyGuard,
        max_body_bytes=settings.api.max_body_bytes,
        cookie_name=COOKIE_NAME,
        path_limits={scan_router.prefix: settings.api.scan_max_body_bytes},  # batches of posts
    )
    app.add_middleware(RequestMetrics)  # outermost: counts what the body guard refuses too
    if STATIC_DIR.is_dir():
        app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    for router in ROUTERS:
        app.include_router(router)
    return app
