"""Case pages: the list, one case (listings, notes, tags, trail, export links), and the "add to
case" action the search results post their ticked listings to.  Plain forms, no JavaScript;
every change goes through :mod:`api.cases`, which audits it.

The search page's bulk form needs the open cases for its chooser: :func:`open_cases` is a
template global registered here, so the search route itself does not change."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from api import audit, cases
from api.auth import Principal
from api.deps import get_store, settings_of
from api.forms import BULK_FIELDS, FormError, first, form_lists, page_params, selected_ids
from api.routes.cases import existing_listings
from api.routes.ui import _gate, env, gated_form, render

router = APIRouter(include_in_schema=False)


def open_cases(request: Request) -> list[cases.CaseSummary]:
    """The open cases, for the search page's "add to case" chooser."""
    return cases.list_cases(settings_of(request), status="open", limit=200)


env.globals["open_cases"] = open_cases


def _bad(request: Request, message: str, status: int = 400) -> Response:
    return render(request, "error.html", status=status, title="Not done", message=message)


@router.get("/cases", dependencies=[page_params()])
def cases_page(request: Request) -> Response:
    gate = _gate(request, "analyst")
    if not isinstance(gate, Principal):
        return gate
    found = cases.list_cases(settings_of(request))
    audit.record(gate, "case.list", "", len(found), settings=settings_of(request))
    return render(request, "cases.html", cases=found)


@router.post("/cases")
async def cases_create(request: Request) -> Response:
    gate = _gate(request, "analyst")
    if not isinstance(gate, Principal):
        return gate
    try:
        form = await form_lists(request, ("name", "description"))
        case = cases.create_case(settings_of(request), gate, first(form, "name"), first(form, "description"))
    except (FormError, ValueError) as exc:
        return _bad(request, str(exc))
    return RedirectResponse(f"/cases/{case.id}", status_code=303)


@router.post("/cases/add")
async def cases_add_selected(request: Request) -> Response:
    """The search results' bulk form: the ticked listings into the chosen case, or a new one."""
    gated = await gated_form(request, "analyst", BULK_FIELDS)
    if isinstance(gated, Response):
        return gated
    gate, form = gated
    ids = selected_ids(form, "listing_id", cases.MAX_LISTINGS_PER_CALL)
    if not ids:
        return _bad(request, "Select at least one listing.")
    found, _ = existing_listings(get_store(request), ids)
    target = first(form, "case")
    try:
        if target == "new" or not target:
            target = cases.create_case(settings_of(request), gate, first(form, "case_name") or "Untitled case").id
        cases.add_listings(settings_of(request), gate, target, found)
    except cases.CaseNotFound:
        return _bad(request, "No such case.", 404)
    except (cases.CaseClosed, ValueError) as exc:
        return _bad(request, str(exc), 409 if isinstance(exc, cases.CaseClosed) else 400)
    return RedirectResponse(f"/cases/{target}", status_code=303)


@router.get("/cases/{case_id}", dependencies=[page_params()])
def case_page(request: Request, case_id: str) -> Response:
    gate = _gate(request, "analyst")
    if not isinstance(gate, Principal):
        return gate
    try:
        case = cases.get_case(settings_of(request), case_id)
    except cases.CaseNotFound:
        return _bad(request, "No such case.", 404)
    store = get_store(request)
    listings = [(entry, store.get(entry.listing_id)) for entry in case.listings]
    audit.record(gate, "case.view", f"case={case.id}", len(listings), settings=settings_of(request))
    return render(request, "case.html", case=case, listings=listings)


async def _change(request: Request, case_id: str, fields: tuple[str, ...], what: str) -> Response:
    gate = _gate(request, "analyst")
    if not isinstance(gate, Principal):
        return gate
    settings = settings_of(request)
    try:
        form = await form_lists(request, fields)
        if what == "note":
            cases.add_note(settings, gate, case_id, first(form, "text"))
        elif what == "tags":
            cases.set_tags(settings, gate, case_id, first(form, "tags").split(","))
        elif what == "close":
            cases.close_case(settings, gate, case_id)
        else:
            for listing_id in form.get("listing_id", []):
                cases.remove_listing(settings, gate, case_id, listing_id[: cases.MAX_LISTING_ID])
    except cases.CaseNotFound:
        return _bad(request, "No such case.", 404)
    except cases.CaseClosed as exc:
        return _bad(request, str(exc), 409)
    except (FormError, ValueError) as exc:
        return _bad(request, str(exc))
    return RedirectResponse(f"/cases/{case_id}", status_code=303)


@router.post("/cases/{case_id}/notes")
async def case_note(request: Request, case_id: str) -> Response:
    return await _change(request, case_id, ("text",), "note")


@router.post("/cases/{case_id}/tags")
async def case_tags(request: Request, case_id: str) -> Response:
    return await _change(request, case_id, ("tags",), "tags")


@router.post("/cases/{case_id}/close")
async def case_close(request: Request, case_id: str) -> Response:
    return await _change(request, case_id, (), "close")


@router.post("/cases/{case_id}/remove")
async def case_remove(request: Request, case_id: str) -> Response:
    return await _change(request, case_id, ("listing_id", "action"), "remove")


__all__ = ["router", "open_cases"]
