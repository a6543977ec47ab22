"""Entity pivots and vendor identities: the JSON API and the UI pages.

``/api/entities/{kind}/{value}`` (and the page ``/entities/{kind}/{value}``) answer "what else do
we know around this PGP key / handle / wallet / onion / phone / vendor name"; the vendor page's
identity graph (:mod:`index.identity`) says which aliases are one seller and why, and analysts
merge or unmerge aliases here (audited, reversible, :mod:`api.vendor_merges`)."""

from __future__ import annotations

from typing import Literal
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Depends, HTTPException, Query, Request, Response
from fastapi.responses import RedirectResponse
from pydantic import BaseModel, Field

from api import audit, vendor_merges
from api.auth import Principal
from api.deps import listing_store, require_roles, settings_of
from api.forms import page_params
from api.openapi import AUTH, BODY, answers
from api.params import RequestBody
from api.routes.ui import _form, _gate, env, render
from index.entities import ENTITY_KINDS, entities_of
from index.identity import IdentityGraph, identity_graph
from index.pivots import EntityPivot, pivot
from index.store import QueryError, StoreError

router = APIRouter()
analyst = require_roles("analyst")
EntityKindParam = Literal["vendor", "pgp", "contact", "wallet", "onion", "phone"]
MAX_VALUE_CHARS = 300


def entity_url(kind: str, value: str) -> str:
    """The page of an entity (``value`` normalised, as :func:`index.entities.entities_of` gives)."""
    return f"/entities/{quote(kind, safe='')}/{quote(value, safe='')}"


def vendor_url(name: str, market: str | None) -> str:
    return "/vendor?" + urlencode({"name": name, "market": market or ""})


env.globals.update(entity_url=entity_url, entities_of=entities_of, vendor_page_url=vendor_url)


def _pivot(request: Request, kind: str, value: str) -> EntityPivot | None:
    if kind not in ENTITY_KINDS:
        raise QueryError(f"unknown entity kind {kind!r}; known: {', '.join(ENTITY_KINDS)}")
    return pivot(listing_store(request), kind, value[:MAX_VALUE_CHARS])


@router.get(
    "/api/entities/{kind}/{value:path}",
    response_model=EntityPivot,
    tags=["analyst"],
    responses=answers(400, *AUTH, 404, 503),
)
def entity_api(
    request: Request, kind: EntityKindParam, value: str, principal: Principal = Depends(analyst)
) -> EntityPivot:
    """Listings and posts carrying an entity, first/last seen, markets, vendor aliases and the
    entities found beside it (each with its own ``/api/entities/{kind}/{value}``)."""
    try:
        found = _pivot(request, kind, value)
    except QueryError as exc:
        raise HTTPException(400, detail=str(exc)) from exc
    except StoreError as exc:
        raise HTTPException(503, detail=f"search unavailable: {exc}") from exc
    audit.record(principal, "view_entity", f"{kind}={value[:200]}", found.total if found else 0, settings_of(request))
    if found is None:
        raise HTTPException(404, "no listing carries this entity")
    return found


def _graph(request: Request, name: str, market: str | None) -> IdentityGraph | None:
    merges = vendor_merges.active_merges(settings_of(request))
    return identity_graph(listing_store(request), name, market, merges)


@router.get("/api/vendors/identity", response_model=IdentityGraph, tags=["analyst"], responses=answers(*AUTH, 404, 503))
def identity_api(
    request: Request,
    name: str = Query(..., max_length=256),
    market: str | None = Query(None, max_length=256),
    principal: Principal = Depends(analyst),
) -> IdentityGraph:
    """The vendor-identity graph: aliases, the reason of every link, identities (same-name aliases
    with nothing shared are separate identities, linked only by "same name only")."""
    graph = _graph(request, name, market or None)
    if graph is None:
        raise HTTPException(404, "no listings by this vendor")
    audit.record(
        principal, "view_identity", f"name={name} market={market or ''}", len(graph.nodes), settings_of(request)
    )
    return graph


class MergeIn(RequestBody):
    a: str = Field(..., max_length=600, description="alias name@market")
    b: str = Field(..., max_length=600, description="alias name@market")
    note: str = Field("", max_length=500, description="why (required for a merge)")


class UnmergeOut(BaseModel):
    reversed: int


@router.get(
    "/api/vendors/merges", response_model=list[vendor_merges.MergeRecord], tags=["analyst"], responses=answers(*AUTH)
)
def merges_api(
    request: Request, alias: str | None = Query(None, max_length=600), principal: Principal = Depends(analyst)
) -> list[vendor_merges.MergeRecord]:
    """Merges and unmerges, newest first (of one alias when ``alias`` is given)."""
    return vendor_merges.list_merges(settings_of(request), alias)


@router.post(
    "/api/vendors/merge",
    response_model=vendor_merges.MergeRecord,
    status_code=201,
    tags=["analyst"],
    responses=answers(400, *AUTH, *BODY),
)
def merge_api(request: Request, body: MergeIn, principal: Principal = Depends(analyst)) -> vendor_merges.MergeRecord:
    """Merge two aliases into one identity (audited; reversed by ``/api/vendors/unmerge``)."""
    try:
        return vendor_merges.merge(settings_of(request), principal, body.a, body.b, body.note)
    except ValueError as exc:
        raise HTTPException(400, detail=str(exc)) from exc


@router.post(
    "/api/vendors/unmerge", response_model=UnmergeOut, tags=["analyst"], responses=answers(400, *AUTH, 404, *BODY)
)
def unmerge_api(request: Request, body: MergeIn, principal: Principal = Depends(analyst)) -> UnmergeOut:
    """Reverse an analyst's merge of two aliases (audited; the record is kept)."""
    try:
        count = vendor_merges.unmerge(settings_of(request), principal, body.a, body.b, body.note)
    except ValueError as exc:
        raise HTTPException(400, detail=str(exc)) from exc
    if not count:
        raise HTTPException(404, "these aliases are not merged")
    return UnmergeOut(reversed=count)


# -- UI ------------------------------------------------------------------------------------------
@router.get("/entities/{kind}/{value:path}", include_in_schema=False, dependencies=[page_params()])
def entity_page(request: Request, kind: str, value: str) -> Response:
    gate = _gate(request, "analyst")
    if not isinstance(gate, Principal):
        return gate
    try:
        found = _pivot(request, kind, value)
    except QueryError as exc:
        return render(request, "error.html", status=400, title="Not an entity", message=str(exc))
    except StoreError as exc:
        return render(request, "error.html", status=503, title="Unavailable", message=f"The store is down: {exc}")
    audit.record(gate, "view_entity", f"{kind}={value[:200]}", found.total if found else 0, settings_of(request))
    if found is None:
        return render(request, "error.html", status=404, title="Not found", message="No listing carries this entity.")
    return render(request, "entity.html", entity=found)


@router.post("/vendor/merge", include_in_schema=False)
async def merge_form(request: Request) -> Response:
    return await _merge_form(request, undo=False)


@router.post("/vendor/unmerge", include_in_schema=False)
async def unmerge_form(request: Request) -> Response:
    return await _merge_form(request, undo=True)


async def _merge_form(request: Request, *, undo: bool) -> Response:
    gate = _gate(request, "analyst")
    if not isinstance(gate, Principal):
        return gate
    form = await _form(request)
    try:
        if undo:
            if not vendor_merges.unmerge(
                settings_of(request), gate, form.get("a", ""), form.get("b", ""), form.get("note", "")
            ):
                raise ValueError("these aliases are not merged")
        else:
            vendor_merges.merge(settings_of(request), gate, form.get("a", ""), form.get("b", ""), form.get("note", ""))
    except ValueError as exc:
        return render(request, "error.html", status=400, title="Not done", message=str(exc))
    back = vendor_url(form.get("name", "")[:256], form.get("market", "")[:256] or None)
    return RedirectResponse(back, status_code=303)


__all__ = ["router", "entity_url"]
