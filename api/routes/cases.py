"""Cases over the API: create, list, read, add and remove listings, notes, tags, close, export.

Analysts (and admins) only.  Every change is audited by :mod:`api.cases`; reading a case and
exporting it are audited here.  Listings are checked against the store before they are added
(a case never holds an id that never existed)."""

from __future__ import annotations

import json
from typing import Literal

from fastapi import APIRouter, Depends, HTTPException, Query, Request, Response
from pydantic import BaseModel, Field

from api import audit, cases
from api.auth import Principal
from api.case_export import case_csv, case_document
from api.deps import listing_store, require_roles, settings_of
from api.forms import refuse_unknown_params
from api.openapi import AUTH, BODY, TEXT, answers, body_types
from api.params import RequestBody
from index.store import ListingStore

router = APIRouter(prefix="/api/cases", tags=["cases"])
analyst = require_roles("analyst")


class CaseIn(RequestBody):
    name: str = Field(..., min_length=1, max_length=cases.MAX_NAME)
    description: str = Field("", max_length=cases.MAX_DESCRIPTION)


class ListingsIn(RequestBody):
    listing_ids: list[str] = Field(
        ..., min_length=1, max_length=cases.MAX_LISTINGS_PER_CALL, description="ids of listings in the store"
    )


class ListingsAdded(BaseModel):
    added: list[str]
    already_in_case: list[str]
    unknown: list[str] = Field(description="ids the store does not hold (not added)")


class NoteIn(RequestBody):
    text: str = Field(..., min_length=1, max_length=cases.MAX_NOTE)


class TagsIn(RequestBody):
    tags: list[str] = Field(..., max_length=cases.MAX_TAGS)


class TagsOut(BaseModel):
    tags: list[str]


def _case_or_404(request: Request, case_id: str) -> cases.Case:
    try:
        return cases.get_case(settings_of(request), case_id)
    except cases.CaseNotFound:
        raise HTTPException(404, "no such case") from None


def existing_listings(store: ListingStore, listing_ids: list[str]) -> tuple[list[str], list[str]]:
    """(ids the store holds, ids it does not)."""
    found: list[str] = []
    unknown: list[str] = []
    for listing_id in dict.fromkeys(listing_ids):
        if len(listing_id) <= cases.MAX_LISTING_ID and store.get(listing_id) is not None:
            found.append(listing_id)
        else:
            unknown.append(listing_id[: cases.MAX_LISTING_ID])
    return found, unknown


@router.post("", response_model=cases.CaseSummary, status_code=201, responses=answers(400, *AUTH, *BODY))
def create_case(request: Request, body: CaseIn, principal: Principal = Depends(analyst)) -> cases.CaseSummary:
    """Open a new case folder."""
    try:
        return cases.create_case(settings_of(request), principal, body.name, body.description)
    except ValueError as exc:
        raise HTTPException(400, str(exc)) from exc


@router.get("", response_model=list[cases.CaseSummary], responses=answers(400, *AUTH, 422))
def list_cases(
    request: Request, status: Literal["open", "closed"] | None = None, principal: Principal = Depends(analyst)
) -> list[cases.CaseSummary]:
    """Cases, newest first."""
    refuse_unknown_params(request, ("status",))
    found = cases.list_cases(settings_of(request), status=status)
    audit.record(principal, "case.list", f"status={status or ''}", len(found), settings=settings_of(request))
    return found


@router.get("/{case_id}", response_model=cases.Case, responses=answers(*AUTH, 404))
def get_case(request: Request, case_id: str, principal: Principal = Depends(analyst)) -> cases.Case:
    """A case with its listings, notes and trail."""
    case = _case_or_404(request, case_id)
    audit.record(principal, "case.view", f"case={case.id}", len(case.listings), settings=settings_of(request))
    return case


@router.post("/{case_id}/listings", response_model=ListingsAdded, responses=answers(*AUTH, 404, 409, *BODY, 503))
def add_listings(
    request: Request, case_id: str, body: ListingsIn, principal: Principal = Depends(analyst)
) -> ListingsAdded:
    """Add listings to an open case (unknown ids are reported, not added)."""
    _case_or_404(request, case_id)
    found, unknown = existing_listings(listing_store(request), body.listing_ids)
    try:
        added, present = cases.add_listings(settings_of(request), principal, case_id, found)
    except cases.CaseClosed as exc:
        raise HTTPException(409, str(exc)) from None
    return ListingsAdded(added=added, already_in_case=present, unknown=unknown)


@router.delete("/{case_id}/listings/{listing_id}", status_code=204, responses=answers(*AUTH, 404, 409, 413))
def remove_listing(
    request: Request, case_id: str, listing_id: str, principal: Principal = Depends(analyst)
) -> Response:
    """Take a listing out of an open case."""
    _case_or_404(request, case_id)
    try:
        removed = cases.remove_listing(settings_of(request), principal, case_id, listing_id[: cases.MAX_LISTING_ID])
    except cases.CaseClosed as exc:
        raise HTTPException(409, str(exc)) from None
    if not removed:
        raise HTTPException(404, "the listing is not in this case")
    return Response(status_code=204)


@router.post(
    "/{case_id}/notes", response_model=cases.CaseNote, status_code=201, responses=answers(400, *AUTH, 404, 409, *BODY)
)
def add_note(request: Request, case_id: str, body: NoteIn, principal: Principal = Depends(analyst)) -> cases.CaseNote:
    """Add a note (author and time are recorded)."""
    _case_or_404(request, case_id)
    try:
        return cases.add_note(settings_of(request), principal, case_id, body.text)
    except cases.CaseClosed as exc:
        raise HTTPException(409, str(exc)) from None
    except ValueError as exc:
        raise HTTPException(400, str(exc)) from exc


@router.put("/{case_id}/tags", response_model=TagsOut, responses=answers(400, *AUTH, 404, 409, *BODY))
def set_tags(request: Request, case_id: str, body: TagsIn, principal: Principal = Depends(analyst)) -> TagsOut:
    """Replace the case's tags."""
    _case_or_404(request, case_id)
    try:
        return TagsOut(tags=cases.set_tags(settings_of(request), principal, case_id, body.tags))
    except cases.CaseClosed as exc:
        raise HTTPException(409, str(exc)) from None
    except ValueError as exc:
        raise HTTPException(400, str(exc)) from exc


@router.post("/{case_id}/close", response_model=cases.CaseSummary, responses=answers(*AUTH, 404, 409, 413))
def close_case(request: Request, case_id: str, principal: Principal = Depends(analyst)) -> cases.CaseSummary:
    """Close a case: it is kept, read-only."""
    _case_or_404(request, case_id)
    try:
        return cases.close_case(settings_of(request), principal, case_id)
    except cases.CaseClosed as exc:
        raise HTTPException(409, str(exc)) from None


EXPORT_TYPES = {"text/csv; charset=utf-8": TEXT, "application/json": {"type": "object"}}


@router.get(
    "/{case_id}/export",
    response_class=Response,
    responses={
        **answers(400, *AUTH, 404, 422, 503),
        **body_types("The case with its evidence and trail", EXPORT_TYPES),
    },
)
def export_case(
    request: Request,
    case_id: str,
    format: Literal["csv", "json"] = Query("json"),
    principal: Principal = Depends(analyst),
) -> Response:
    """Every listing of the case with its text, entities and evidence hashes, the notes, and the
    case's trail of who added what (CSV cells are formula-safe)."""
    refuse_unknown_params(request, ("format",))
    case = _case_or_404(request, case_id)
    document = case_document(case, listing_store(request), settings_of(request))
    audit.record(
        principal, "case.export", f"case={case.id} format={format}", len(case.listings), settings=settings_of(request)
    )
    disposition = {"Content-Disposition": f'attachment; filename="dragnet-{case.id}.{format}"'}
    if format == "csv":
        return Response("".join(case_csv(document)), media_type="text/csv; charset=utf-8", headers=disposition)
    return Response(json.dumps(document, ensure_ascii=False), media_type="application/json", headers=disposition)
