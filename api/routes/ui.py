"""The analyst web UI: server-rendered Jinja2 pages, autoescaped; no JavaScript at all.

Scraped text (titles, bodies, vendor names, handles) is always rendered escaped; the only
markup built from it is a highlight fragment, which the store escapes *before* wrapping matches
in ``<mark>`` (:func:`index.query.safe_highlight`) and which is marked safe here, explicitly.
The browser signs in by posting an API key; it is kept in an HttpOnly, SameSite=Strict cookie,
which is also what stops cross-site form posts."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup

from api import alerts, audit, vendor_merges
from api.auth import COOKIE_NAME, KeyStore, Principal, session_from_request
from api.charts import bar_chart, time_chart
from api.deps import current_principal, get_store, settings_of
from api.diff import price_label, version_diffs
from api.forms import FormError, form_lists, page_params
from api.labels import chip_label, display_title, unique_evidence
from api.params import ENTITY_PARAMS, LIST_PARAMS, clean_params, describe, encode_after, refuse_unknown, to_query
from api.routes.search import evidence_links
from index.identity import identity_graph
from index.store import FACET_FIELDS, HistogramBucket, ListingStore, QueryError, SearchQuery, StoreError
from index.vendors import resolve_vendor

router = APIRouter(include_in_schema=False)
TEMPLATES = Path(__file__).resolve().parent.parent / "templates"
env = Environment(
    loader=FileSystemLoader(TEMPLATES),
    autoescape=select_autoescape(default=True, default_for_string=True),
    trim_blocks=True,
    lstrip_blocks=True,
)
FACET_LABELS = {
    "market": "Market",
    "platform": "Platform",
    "vendor": "Vendor",
    "substance": "Substance",
    "ships_from": "Ships from",
    "source_kind": "Source",
    "is_drug_sale": "Verdict",
    "intent": "Intent",
}
SORTS = {
    "relevance": "Relevance",
    "newest": "Newest",
    "oldest": "Oldest",
    "price_asc": "Price ↑",
    "price_desc": "Price ↓",
    "score_desc": "Score",
}


def _url(path: str, params: dict[str, list[str]], **changes: Any) -> str:
    """``path`` with ``params``; ``add=(k, v)``, ``remove=(k, v)``, ``set={k: v}`` change a copy."""
    new = {k: list(v) for k, v in params.items()}
    if "add" in changes:
        key, value = changes["add"]
        if key in LIST_PARAMS:
            new.setdefault(key, [])
            if value not in new[key]:
                new[key].append(value)
        else:
            new[key] = [value]
    if "remove" in changes:
        key, value = changes["remove"]
        new[key] = [v for v in new.get(key, []) if v != value]
    for key, value in (changes.get("set") or {}).items():
        new[key] = [value] if value is not None else []
    query = urlencode([(k, v) for k, values in new.items() for v in values])
    if not query and path == "/search":
        return "/search?q="  # an empty query string is the landing view (sales only): this is "everything"
    return f"{path}?{query}" if query else path


env.globals.update(url=_url, facet_labels=FACET_LABELS, sorts=SORTS, urlencode=urlencode)
env.filters.update(
    display_title=display_title, chip_label=chip_label, unique_evidence=unique_evidence, price_label=price_label
)
# the search page's landing view (no query string at all): drug-sale verdicts, best score first
LANDING_PARAMS = {"is_drug_sale": ["true"]}
CHART_CHOICES = {"interval": ("auto", "day", "week", "month"), "split": ("substance", "market", "none")}
MAX_DAY_BUCKETS = 62
MAX_WEEK_BUCKETS = 104


def _chart_options(request: Request) -> tuple[dict[str, str], str | None]:
    """The histogram's own parameters (``interval``, ``split``); a bad value is an error message."""
    options = {}
    for name, choices in CHART_CHOICES.items():
        value = request.query_params.get(name, choices[0]).strip() or choices[0]
        if value not in choices:
            return {}, f"{name} must be one of {', '.join(choices)}"
        options[name] = value
    return options, None


def search_histogram(
    store: ListingStore, query: SearchQuery, options: dict[str, str]
) -> tuple[list[HistogramBucket], str]:
    """The histogram of a search, by day, or by week (then month) when days would be too many
    to read; an ``interval`` other than ``auto`` is taken as asked."""
    split = None if options["split"] == "none" else options["split"]
    query = query.model_copy(update={"facets": False, "highlight": False, "size": 0, "search_after": None})
    intervals = ("day", "week", "month") if options["interval"] == "auto" else (options["interval"],)
    buckets: list[HistogramBucket] = []
    for interval in intervals:
        buckets = store.date_histogram(query, interval, split)  # type: ignore[arg-type]
        limit = MAX_DAY_BUCKETS if interval == "day" else MAX_WEEK_BUCKETS
        if len(buckets) <= limit:
            return buckets, interval
    return buckets, intervals[-1]


def render(request: Request, template: str, status: int = 200, **context: Any) -> HTMLResponse:
    principal = getattr(request.state, "principal", None)
    html = env.get_template(template).render(request=request, principal=principal, **context)
    return HTMLResponse(html, status_code=status)


def _gate(request: Request, *roles: str) -> Principal | Response:
    principal = current_principal(request)
    if principal is None:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return RedirectResponse("/login?" + urlencode({"next": target}), status_code=303)
    if not principal.has_role(*roles):
        return render(
            request,
            "error.html",
            status=403,
            title="Not allowed",
            message=f"Your key's role ({principal.role}) may not open this page.",
        )
    return principal


async def gated_form(
    request: Request, role: str, fields: tuple[str, ...]
) -> tuple[Principal, dict[str, list[str]]] | Response:
    """The signed-in principal holding ``role`` and the posted form's ``fields``, or the page
    that refuses (sign in, not allowed, a field the form does not have): what every bulk form
    of the UI checks before it acts."""
    gate = _gate(request, role)
    if not isinstance(gate, Principal):
        return gate
    try:
        return gate, await form_lists(request, fields)
    except FormError as exc:
        return render(request, "error.html", status=400, title="Bad request", message=str(exc))


async def _form(request: Request) -> dict[str, str]:
    """A urlencoded form body (small, parsed without python-multipart)."""
    body = (await request.body())[:65_536].decode("utf-8", "replace")
    return {k: v[0] for k, v in parse_qs(body, keep_blank_values=True).items()}


def _safe_next(target: str | None) -> str:
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/search"
    return target


@router.get("/login", dependencies=[page_params("next")])
def login_page(request: Request, next: str = "/search") -> HTMLResponse:
    return render(request, "login.html", next=_safe_next(next), error=None)


@router.post("/login")
async def login(request: Request) -> Response:
    form = await _form(request)
    key = form.get("key", "").strip()
    token = KeyStore(settings_of(request)).open_session(key)
    if token is None:
        audit.record(None, "auth.failed", "POST /login", None, settings_of(request))
        return render(request, "login.html", status=401, next=_safe_next(form.get("next")), error="Unknown API key.")
    principal = KeyStore(settings_of(request)).session_principal(token)
    response = RedirectResponse(_landing(principal, _safe_next(form.get("next"))), status_code=303)
    response.set_cookie(
        COOKIE_NAME,
        token,  # a session token: the key itself never sits in the browser
        httponly=True,
        samesite="strict",
        path="/",
        secure=request.url.scheme == "https",
        max_age=12 * 3600,
    )
    return response


@router.post("/logout")
def logout(request: Request) -> Response:
    KeyStore(settings_of(request)).close_session(session_from_request(request))
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(COOKIE_NAME, path="/")
    return response


def _landing(principal: Principal | None, target: str) -> str:
    """Where a sign-in lands: the page asked for, except that a key which may not search (an
    operator's) lands on its own page instead of on a refusal."""
    if principal is not None and target.split("?")[0] in ("/", "/search") and not principal.has_role("analyst"):
        if principal.has_role("operator"):
            return "/operator"
    return target


@router.get("/", dependencies=[page_params()])
def home(request: Request) -> Response:
    return RedirectResponse(_landing(current_principal(request), "/search"), status_code=303)


@router.get("/search")  # unknown parameters: refused in the page itself, beside the search box
def search_page(request: Request, after: str | None = None) -> Response:
    gate = _gate(request, "analyst")
    if not isinstance(gate, Principal):
        return gate
    params = clean_params(request.query_params) if request.url.query else dict(LANDING_PARAMS)
    error = None
    result = None
    histogram: Any = None
    pgp_changed_count: int | None = None
    options, error = _chart_options(request)
    if error is None:
        try:
            refuse_unknown(request.query_params, ("after", *CHART_CHOICES))
        except QueryError as exc:
            error = str(exc)
    refused = error is not None  # a parameter the page does not read, or a bad chart option: a 400
    # no sort asked: relevance ranks a text query, the verdict's score an empty one
    sort = params.get("sort", ["relevance" if params.get("q") else "score_desc"])[0]
    try:
        if error is not None:
            raise QueryError(error)
        query = to_query({**params, "sort": [sort]}, size=20, after=after)
        result = get_store(request).search(query)
        buckets, interval = search_histogram(get_store(request), query, options)
        histogram = time_chart(buckets, interval)
        # the "PGP key changed" facet: how many of this search's listings showed a new key
        pgp_changed_count = (
            get_store(request)
            .search(query.model_copy(update={"pgp_changed": True, "size": 0, "facets": False, "highlight": False}))
            .total
        )
        audit.record(gate, "search", describe(params), result.total, settings=settings_of(request))
    except QueryError as exc:
        error = str(exc)
        audit.record(gate, "search", describe(params) + " [refused]", None, settings=settings_of(request))
    except StoreError as exc:
        error = f"The listing store is unavailable: {exc}"
    hits = []
    if result is not None:
        for hit in result.hits:
            # escaped by the store before the <mark> tags were added (index.query.safe_highlight)
            hits.append(
                {
                    "listing": hit.listing,
                    "score": hit.score,
                    "title_hl": Markup(hit.highlights["title"][0]) if hit.highlights.get("title") else None,
                    "text_hl": [Markup(f) for f in hit.highlights.get("text", [])],
                }
            )
    active = [(k, v) for k in LIST_PARAMS + ENTITY_PARAMS for v in params.get(k, [])]
    for key in ("is_drug_sale", "pgp_changed", "min_score", "price_min", "price_max", "seen_from", "seen_to"):
        active.extend((key, v) for v in params.get(key, []))
    return render(
        request,
        "search.html",
        status=400 if refused else 200,
        histogram=histogram,
        pgp_changed_count=pgp_changed_count,
        chart_options=options,
        ships_chart=bar_chart(result.facets.get("ships_from", [])) if result is not None else None,
        ships_link=lambda value: _url("/search", params, add=("ships_from", value)),
        params=params,
        q=params.get("q", [""])[0],
        result=result,
        hits=hits,
        error=error,
        facet_fields=FACET_FIELDS,
        active=active,
        next_url=_url("/search", params, set={"after": encode_after(result.next_search_after)})
        if result is not None and result.next_search_after
        else None,
        query_string=describe(params),
        sort=sort,
    )


@router.get("/listings/{listing_id}", dependencies=[page_params()])
def listing_page(request: Request, listing_id: str) -> Response:
    gate = _gate(request, "analyst")
    if not isinstance(gate, Principal):
        return gate
    listing = get_store(request).get(listing_id[:200])
    if listing is None:
        return render(request, "error.html", status=404, title="Not found", message="No such listing.")
    audit.record(gate, "view_listing", f"id={listing_id}", 1, settings=settings_of(request))
    history = get_store(request).history(listing_id)
    vendor_url = None
    if listing.vendor:
        vendor_url = "/vendor?" + urlencode(
            {"name": listing.vendor.name, "market": listing.vendor.market or listing.market or ""}
        )
    return render(
        request,
        "listing.html",
        listing=listing,
        history=history,
        diffs=version_diffs(history),
        vendor_url=vendor_url,
        evidence=evidence_links(listing, settings_of(request)),
    )


@router.get("/vendor", dependencies=[page_params("name", "market")])
def vendor_page(request: Request, name: str = "", market: str = "") -> Response:
    gate = _gate(request, "analyst")
    if not isinstance(gate, Principal):
        return gate
    entity = resolve_vendor(get_store(request), name[:256], market[:256] or None) if name else None
    if entity is None:
        return render(request, "error.html", status=404, title="Not found", message="No listings by this vendor.")
    audit.record(
        gate, "view_vendor", f"name={name} market={market}", len(entity.listings), settings=settings_of(request)
    )
    peak = max((b.count for b in entity.timeline), default=1) or 1
    # which aliases are one seller and why (index.identity), merges by analysts included
    merges = vendor_merges.active_merges(settings_of(request))
    identity = identity_graph(get_store(request), name[:256], market[:256] or None, merges)
    return render(
        request,
        "vendor.html",
        entity=entity,
        peak=peak,
        listings=entity.listings[:200],
        timeline=time_chart(entity.timeline, "week"),
        identity=identity,
        pgp_changed=[entry for entry in entity.listings if entry.pgp_changed][:50],
    )


@router.get("/saved", dependencies=[page_params("checked")])
def saved_page(request: Request, checked: str | None = None) -> Response:
    gate = _gate(request, "analyst")
    if not isinstance(gate, Principal):
        return gate
    return render(
        request, "saved.html", saved=alerts.list_saved_searches(settings_of(request), gate), error=None, checked=checked
    )


@router.post("/saved")
async def saved_create(request: Request) -> Response:
    gate = _gate(request, "analyst")
    if not isinstance(gate, Principal):
        return gate
    form = await _form(request)
    params = parse_qs(form.get("query", ""), keep_blank_values=False)
    try:
        alerts.create_saved_search(
            settings_of(request),
            get_store(request),
            gate,
            form.get("name", ""),
            params,
            form.get("webhook_url") or None,
        )
    except (QueryError, ValueError) as exc:
        return render(
            request,
            "saved.html",
            status=400,
            saved=alerts.list_saved_searches(settings_of(request), gate),
            error=str(exc),
            checked=None,
        )
    return RedirectResponse("/saved", status_code=303)


@router.post("/saved/{saved_id}/check")
def saved_check(request: Request, saved_id: str) -> Response:
    gate = _gate(request, "analyst")
    if not isinstance(gate, Principal):
        return gate
    saved = alerts.get_saved_search(settings_of(request), saved_id)
    if saved is None or (saved.owner_key_id != gate.key_id and gate.role != "admin"):
        return render(request, "error.html", status=404, title="Not found", message="No such saved search.")
    outcome = alerts.check_saved_search(settings_of(request), get_store(request), saved_id, by=gate)
    note = (
        f"{outcome.new} new"
        + (" - delivered" if outcome.delivered else "")
        + (f" - {outcome.error}" if outcome.error else "")
    )
    return RedirectResponse("/saved?" + urlencode({"checked": f"{saved.name}: {note}"}), status_code=303)


@router.post("/saved/{saved_id}/delete")
def saved_delete(request: Request, saved_id: str) -> Response:
    gate = _gate(request, "analyst")
    if not isinstance(gate, Principal):
        return gate
    alerts.delete_saved_search(settings_of(request), gate, saved_id)
    return RedirectResponse("/saved", status_code=303)


@router.get("/audit", dependencies=[page_params("text", "who", "action")])
def audit_page(request: Request, text: str = "", who: str = "", action: str = "") -> Response:
    gate = _gate(request, "admin")
    if not isinstance(gate, Principal):
        return gate
    entries = audit.search_audit(
        text=text[:200], who=who or None, action=action or None, limit=500, settings=settings_of(request)
    )
    return render(request, "audit.html", entries=entries, text=text, who=who, action=action)


__all__ = ["router"]
