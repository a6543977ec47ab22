"""The FastAPI application.  Each area contributes a router module (``api/routes/<area>.py``
exposing ``router``); :data:`ROUTERS` lists them, so adding an area never edits another's code."""

from __future__ import annotations

import importlib

from fastapi import FastAPI

from dragnet import __version__
from dragnet.settings import DragnetSettings, get_settings

ROUTERS: tuple[str, ...] = (
    "api.routes.health",
    "api.routes.search",
    "api.routes.feeds",
    "api.routes.lifespan",
)


def create_app(settings: DragnetSettings | None = None) -> FastAPI:
    settings = settings or get_settings()
    app = FastAPI(title="Dragnet", version=__version__,
                  description="Analyst search, platform takedown feeds, operator and lifespan views.")
    app.state.settings = settings
    for module_name in ROUTERS:
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name == module_name:
                continue  # that area has not landed yet
            raise
        app.include_router(module.router)
    return app
