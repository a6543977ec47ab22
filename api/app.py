"""The FastAPI application.  Each area contributes a router module (``api/routes/<area>.py``
exposing ``router``), included here by name: a router that is missing fails at import.

The listing store is opened once per app (:func:`api.deps.get_store`) and closed on shutdown.  Every
response carries a strict Content-Security-Policy (no scripts at all: the UI is server-rendered)
as a second wall behind the escaping of scraped text."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI, Request, Response
from fastapi.staticfiles import StaticFiles

from api.routes.feeds import router as feeds_router
from api.routes.health import router as health_router
from api.routes.lifespan import router as lifespan_router
from api.routes.search import router as search_router
from api.routes.ui import router as ui_router
from dragnet import __version__
from dragnet.settings import DragnetSettings, get_settings
from index.store import ListingStore

ROUTERS = (health_router, search_router, ui_router, feeds_router, lifespan_router)
STATIC_DIR = Path(__file__).with_name("static")
CSP = (
    "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
)


def create_app(settings: DragnetSettings | None = None, store: ListingStore | None = None) -> FastAPI:
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        opened = getattr(app.state, "store", None)
        if opened is not None and store is None:
            opened.close()

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

    if STATIC_DIR.is_dir():
        app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    for router in ROUTERS:
        app.include_router(router)
    return app
