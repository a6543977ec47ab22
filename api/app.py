"""The FastAPI application.  Each area contributes a router module (``api/routes/<area>.py``
exposing ``router``); :data:`ROUTERS` lists them, so adding an area never edits another's code.

The listing store is opened once per app (``get_store``) and closed on shutdown.  Every
response carries a strict Content-Security-Policy (no scripts at all: the UI is server-rendered)
as a second wall behind the escaping of scraped text."""

from __future__ import annotations

import importlib
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.staticfiles import StaticFiles

from dragnet import __version__
from dragnet.settings import DragnetSettings, get_settings
from index.store import ListingStore

ROUTERS: tuple[str, ...] = (
    "api.routes.health",
    "api.routes.search",
    "api.routes.ui",
    "api.routes.feeds",
    "api.routes.lifespan",
)
STATIC_DIR = Path(__file__).with_name("static")
CSP = ("default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; base-uri 'none'; "
       "frame-ancestors 'none'")
_store_lock = threading.Lock()


def get_store(request: Request) -> ListingStore:
    """The app's listing store (opened on first use, so the app starts even while the engine
    is still coming up)."""
    app = request.app
    store = getattr(app.state, "store", None)
    if store is None:
        with _store_lock:
            store = getattr(app.state, "store", None)
            if store is None:
                from index.factory import open_store

                store = open_store(app.state.settings)
                app.state.store = store
    return store


def create_app(settings: DragnetSettings | None = None, store: ListingStore | None = None) -> FastAPI:
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        opened = getattr(app.state, "store", None)
        if opened is not None and store is None:
            opened.close()

    app = FastAPI(title="Dragnet", version=__version__, lifespan=lifespan,
                  description="Analyst search, platform takedown feeds, operator and lifespan views.")
    app.state.settings = settings
    app.state.store = store

    @app.middleware("http")
    async def security_headers(request: Request, call_next):  # type: ignore[no-untyped-def]
        response = await call_next(request)
        if not request.url.path.startswith(("/docs", "/redoc")):  # Swagger UI needs its own scripts
            response.headers.setdefault("Content-Security-Policy", CSP)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "no-referrer")
        response.headers.setdefault("X-Frame-Options", "DENY")
        return response

    if STATIC_DIR.is_dir():
        app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    for module_name in ROUTERS:
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name == module_name:
                continue  # that area has not landed yet
            raise
        app.include_router(module.router)
    return app
