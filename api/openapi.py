"""OpenAPI declarations shared by the routers: the error answers a route can give and the media
types of the answers that are not JSON.  Declarations only: what a route does is in the route.

The security schemes themselves (``X-API-Key`` header, ``Authorization: Bearer``) are declared by
:func:`api.deps.require_roles`, so every route that needs a key says so in ``/openapi.json``.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field


class ErrorBody(BaseModel):
    """Every error answer: ``{"detail": ...}`` (a string; a list of reasons for a 422)."""

    detail: str | list[dict[str, Any]] = Field(description="why the request was refused")


_WHY: dict[int, str] = {
    400: "The request was refused (a query the search language does not accept, an invalid value).",
    401: "No valid API key (send X-API-Key or Authorization: Bearer).",
    403: "The key's role may not do this, or the key belongs to another platform.",
    404: "No such object (or not visible to this key).",
    409: "The change conflicts with the object's current state or version.",
    413: "The request body is over api.max_body_bytes.",
    422: "A parameter or the body failed validation; detail lists the reasons.",
    429: "Over the quota or the intake back-pressure limit: retry after Retry-After seconds.",
    503: "The listing store is unavailable.",
}


def answers(*codes: int) -> dict[int | str, dict[str, Any]]:
    """``responses=`` entries for these error codes."""
    out: dict[int | str, dict[str, Any]] = {}
    for code in codes:
        entry: dict[str, Any] = {"model": ErrorBody, "description": _WHY[code]}
        if code == 401:
            entry["headers"] = {"WWW-Authenticate": {"description": "the scheme to use", "schema": {"type": "string"}}}
        out[code] = entry
    return out


AUTH = (401, 403)  # every route behind require_roles
BODY = (413, 422)  # every route that takes a body (the body guard answers 413 before the route)


def body_types(description: str, types: dict[str, dict[str, Any]]) -> dict[int | str, dict[str, Any]]:
    """A 200 answer in each of ``types`` (media type -> JSON Schema of the body)."""
    return {
        200: {"description": description, "content": {media: {"schema": schema} for media, schema in types.items()}}
    }


TEXT = {"type": "string"}
PROMETHEUS_TEXT = "text/plain; version=0.0.4"  # the Prometheus text exposition format
BINARY = {"type": "string", "format": "binary"}
