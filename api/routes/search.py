"""The analyst JSON API: search, facets, histograms, listings with evidence, vendors, saved
searches with alerts, exports (CSV, NDJSON), keys and the audit log (admins).

Every search and export is written to the audit log (who, when, query, result count)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any, Literal
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Depends, HTTPException, Query, Request, Response
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, Field

from api import alerts, audit
from api.auth import KeyStore, Principal, validate_role
from api.deps import listing_store, require_roles, settings_of
from api.evidence import screenshot_path, warc_path, warc_record_bytes
from api.openapi import AUTH, BINARY, BODY, TEXT, answers, body_types
from api.params import RequestBody, clean_params, describe, encode_after, query_error, refuse_unknown, to_query
from dragnet.csvsafe import csv_line
from dragnet.documents import Listing
from dragnet.settings import DragnetSettings
from index.entities import entities_of
from index.store import FacetBucket, HistogramBucket, HistogramSplit, QueryError, StoreError
from index.vendors import VendorEntity, resolve_vendor

router = APIRouter(prefix="/api", tags=["analyst"])
analyst = require_roles("analyst")
admin = require_roles("admin")


class ApiHit(BaseModel):
    listing: Listing
    score: float | None = None
    highlights: dict[str, list[str]] = Field(default_factory=dict, description="HTML-safe: escaped, matches in <mark>")


class ApiSearchResult(BaseModel):
    total: int
    hits: list[ApiHit]
    facets: dict[str, list[FacetBucket]]
    next_page: str | None = Field(None, description="pass as ?after= for the next page")


def run_search(
    request: Request, principal: Principal, *, size: int, after: str | None, facets: bool = True, action: str = "search"
) -> tuple[dict[str, list[str]], Any]:
    """Parse, search, audit; 400 for a refused query, 503 when the store is down."""
    params = clean_params(request.query_params)
    try:
        refuse_unknown(request.query_params, ("size", "after"))
        query = to_query(params, size=size, after=after, facets=facets)
        result = listing_store(request).search(query)
    except QueryError as exc:
        audit.record(principal, action, describe(params) + " [refused]", None, settings=settings_of(request))
        raise query_error(exc) from exc
    except StoreError as exc:
        audit.record(principal, action, describe(params) + " [store unavailable]", None, settings=settings_of(request))
        raise HTTPException(503, detail=f"search unavailable: {exc}") from exc
    audit.record(principal, action, describe(params), result.total, settings=settings_of(request))
    return params, result


@router.get("/search", response_model=ApiSearchResult, responses=answers(400, *AUTH, 503))
def search(
    request: Request,
    size: int = Query(20, ge=0, le=200),
    after: str | None = None,
    principal: Principal = Depends(analyst),
    q: str = Query(
        "",
        description='words, "phrases", -exclude, a OR b, prefix*, and fields: vendor:, pgp:, contact:, wallet:, '
        "onion:, phone:, market:, substance:, intent:, category:, city:, district:, drop:, title: "
        '(value a word or "quoted"); never engine DSL',
    ),
    market: list[str] = Query([]),
    vendor: list[str] = Query([]),
    substance: list[str] = Query([]),
    ships_from: list[str] = Query([]),
    platform: list[str] = Query([]),
    source_kind: list[str] = Query([]),
    intent: list[str] = Query([], description="the verdict's intent: sell, buy, discussion, news, ..."),
    pgp: list[str] = Query([], description="PGP fingerprint (any spacing/case) or 16-digit key id; all must match"),
    contact: list[str] = Query([], description="contact handle, platform:handle (telegram:@x) or handle alone"),
    wallet: list[str] = Query([], description="crypto address"),
    crypto: list[str] = Query([], description="alias of wallet"),
    onion: list[str] = Query([], description="onion address mentioned in the listing"),
    phone: list[str] = Query([], description="phone number (digits; spacing and + ignored)"),
    is_drug_sale: bool | None = None,
    pgp_changed: bool | None = Query(None, description="listings where a later version showed a new PGP key"),
    min_score: float | None = None,
    price_min: float | None = None,
    price_max: float | None = None,
    seen_from: str | None = None,
    seen_to: str | None = None,
    sort: str | None = None,
) -> ApiSearchResult:
    """Full-text search with filters, facets, highlights and ``after`` paging."""
    _, result = run_search(request, principal, size=size, after=after)
    return ApiSearchResult(
        total=result.total,
        facets=result.facets,
        next_page=encode_after(result.next_search_after),
        hits=[ApiHit(listing=h.listing, score=h.score, highlights=h.highlights) for h in result.hits],
    )


@router.get("/facets", response_model=dict[str, list[FacetBucket]], responses=answers(400, *AUTH, 503))
def facets(request: Request, principal: Principal = Depends(analyst)) -> dict[str, list[FacetBucket]]:
    """Facet counts for a query (same parameters as /api/search)."""
    _, result = run_search(request, principal, size=0, after=None, action="facets")
    return result.facets


@router.get("/histogram", response_model=list[HistogramBucket], responses=answers(400, *AUTH, 503))
def histogram(
    request: Request,
    interval: Literal["day", "week", "month"] = "day",
    split: HistogramSplit | None = Query(None, description="count each bucket per substance or market too"),
    principal: Principal = Depends(analyst),
) -> list[HistogramBucket]:
    """Listings per day/week/month of last sighting (same filters as /api/search)."""
    params = clean_params(request.query_params)
    try:
        refuse_unknown(request.query_params, ("interval", "split"))
        buckets = listing_store(request).date_histogram(to_query(params, size=0, facets=False), interval, split)
    except QueryError as exc:
        raise query_error(exc) from exc
    audit.record(principal, "histogram", describe(params), sum(b.count for b in buckets), settings=settings_of(request))
    return buckets


class EvidenceLinks(BaseModel):
    warc_record: str | None = None
    warc_record_id: str | None = None
    warc_file: str | None = None
    screenshot: str | None = None
    screenshot_sha256: str | None = None
    content_sha256: str


class EntityLink(BaseModel):
    kind: str
    value: str = Field(description="normalised")
    label: str = Field(description="as posted")
    link: str = Field(description="its pivot: /api/entities/{kind}/{value}")


class ListingDetail(BaseModel):
    listing: Listing
    history: list[Listing]
    evidence: EvidenceLinks
    vendor_link: str | None = None
    entities: list[EntityLink] = Field(default_factory=list, description="vendor, PGP keys, contacts, wallets, ...")


def evidence_links(listing: Listing, settings: DragnetSettings) -> EvidenceLinks:
    return EvidenceLinks(
        warc_record=f"/api/listings/{listing.id}/warc" if warc_path(listing, settings) else None,
        warc_record_id=listing.snapshot.record_id if listing.snapshot else None,
        warc_file=listing.snapshot.warc_file.rsplit("/", 1)[-1] if listing.snapshot else None,
        screenshot=f"/api/listings/{listing.id}/screenshot" if screenshot_path(listing, settings) else None,
        screenshot_sha256=listing.screenshot_sha256,
        content_sha256=listing.content_sha256,
    )


def _listing_or_404(request: Request, listing_id: str) -> Listing:
    if len(listing_id) > 200:
        raise HTTPException(404, "no such listing")
    listing = listing_store(request).get(listing_id)
    if listing is None:
        raise HTTPException(404, "no such listing")
    return listing


@router.get("/listings/{listing_id}", response_model=ListingDetail, responses=answers(*AUTH, 404, 503))
def listing_detail(request: Request, listing_id: str, principal: Principal = Depends(analyst)) -> ListingDetail:
    """A listing, its version history and links to its evidence."""
    listing = _listing_or_404(request, listing_id)
    audit.record(principal, "view_listing", f"id={listing_id}", 1, settings=settings_of(request))
    vendor_link = None
    if listing.vendor:
        vendor_link = "/api/vendors?" + urlencode(
            {"name": listing.vendor.name, "market": listing.vendor.market or listing.market or ""}
        )
    return ListingDetail(
        listing=listing,
        history=listing_store(request).history(listing_id),
        evidence=evidence_links(listing, settings_of(request)),
        vendor_link=vendor_link,
        entities=[
            EntityLink(
                kind=e.kind,
                value=e.value,
                label=e.label,
                link=f"/api/entities/{e.kind}/{quote(e.value, safe='')}",
            )
            for e in entities_of(listing)
        ],
    )


@router.get(
    "/listings/{listing_id}/warc",
    response_class=Response,
    responses={**answers(*AUTH, 404, 503), **body_types("The WARC record", {"application/warc": BINARY})},
)
def listing_warc(request: Request, listing_id: str, principal: Principal = Depends(analyst)) -> Response:
    """The archived WARC record of the listing page, byte for byte."""
    listing = _listing_or_404(request, listing_id)
    data = warc_record_bytes(listing, settings_of(request))
    if data is None:
        raise HTTPException(404, "no archived record for this listing")
    audit.record(principal, "download_warc", f"id={listing_id}", 1, settings=settings_of(request))
    suffix = ".warc.gz" if data[:2] == b"\x1f\x8b" else ".warc"
    return Response(
        data,
        media_type="application/warc",
        headers={"Content-Disposition": f'attachment; filename="{listing_id}{suffix}"'},
    )


@router.get(
    "/listings/{listing_id}/screenshot",
    response_class=Response,
    responses={**answers(*AUTH, 404, 503), **body_types("The screenshot", {"image/png": BINARY})},
)
def listing_screenshot(request: Request, listing_id: str, principal: Principal = Depends(analyst)) -> Response:
    """The screenshot, served only if its bytes match the recorded SHA-256."""
    listing = _listing_or_404(request, listing_id)
    path = screenshot_path(listing, settings_of(request))
    if path is None:
        raise HTTPException(404, "no screenshot for this listing")
    audit.record(principal, "download_screenshot", f"id={listing_id}", 1, settings=settings_of(request))
    return Response(path.read_bytes(), media_type="image/png")


@router.get("/vendors", response_model=VendorEntity, responses=answers(*AUTH, 404, 503))
def vendor(
    request: Request,
    name: str = Query(..., max_length=256),
    market: str | None = Query(None, max_length=256),
    interval: Literal["day", "week", "month"] = "week",
    principal: Principal = Depends(analyst),
) -> VendorEntity:
    """A vendor entity: aliases linked across markets by PGP key, handle or wallet; listings over time."""
    entity = resolve_vendor(listing_store(request), name, market or None, interval=interval)
    if entity is None:
        raise HTTPException(404, "no listings by this vendor")
    audit.record(
        principal,
        "view_vendor",
        f"name={name} market={market or ''}",
        len(entity.listings),
        settings=settings_of(request),
    )
    return entity


# -- exports -----------------------------------------------------------------------------------
CSV_COLUMNS = (
    "id",
    "title",
    "url",
    "market",
    "platform",
    "vendor",
    "price_usd",
    "currency",
    "ships_from",
    "is_drug_sale",
    "score",
    "substances",
    "first_seen",
    "last_seen",
    "content_sha256",
    "warc_record_id",
    "text",
    "contacts",
    "wallets",
    "pgp_keys",
)
MAX_CSV_TEXT = 32_000  # a spreadsheet cell holds 32,767 characters


def _csv_row(entry: Listing) -> list[Any]:
    cls = entry.classification
    values = [
        entry.id,
        entry.title,
        entry.url,
        entry.market,
        entry.platform,
        entry.vendor.name if entry.vendor else None,
        entry.price.usd if entry.price else None,
        entry.price.currency if entry.price else None,
        entry.ships_from,
        None if cls is None else cls.is_drug_sale,
        None if cls is None else cls.score,
        ";".join(sorted(cls.substances)) if cls else None,
        entry.first_seen.isoformat() if entry.first_seen else None,
        entry.last_seen.isoformat() if entry.last_seen else None,
        entry.content_sha256,
        entry.snapshot.record_id if entry.snapshot else None,
        entry.text[:MAX_CSV_TEXT],
        ";".join(f"{c.kind}:{c.handle}" for c in entry.contacts),
        ";".join(f"{w.chain}:{w.address}" for w in entry.crypto),
        ";".join(_pgp_keys(entry)),
    ]
    return values


def _pgp_keys(entry: Listing) -> list[str]:
    """The listing's PGP fingerprints and its vendor's, once each."""
    keys = list(entry.pgp_fingerprints)
    if entry.vendor and entry.vendor.pgp_fingerprint and entry.vendor.pgp_fingerprint not in keys:
        keys.append(entry.vendor.pgp_fingerprint)
    return keys


@router.get(
    "/export",
    response_class=StreamingResponse,
    responses={
        **answers(400, *AUTH, 503),
        **body_types("Matching listings", {"text/csv; charset=utf-8": TEXT, "application/x-ndjson": TEXT}),
    },
)
def export(
    request: Request, format: Literal["csv", "ndjson"] = "ndjson", principal: Principal = Depends(analyst)
) -> StreamingResponse:
    """Every listing matching the search parameters, streamed as CSV or NDJSON."""
    settings = settings_of(request)
    params = clean_params(request.query_params)
    store = listing_store(request)
    try:
        refuse_unknown(request.query_params, ("format",))
        query = to_query(params, size=0, facets=False, highlight=False)
        total = store.count(query)
    except QueryError as exc:
        raise query_error(exc) from exc
    limit = settings.api.export_max_rows
    audit.record(principal, "export", f"{describe(params)} format={format}", min(total, limit), settings=settings)

    def rows() -> Iterator[str]:
        sort = query.sort if query.sort != "relevance" else "newest"
        for number, listing in enumerate(store.scan(query.model_copy(update={"sort": sort}))):
            if number >= limit:
                return
            if format == "ndjson":
                yield listing.model_dump_json() + "\n"
            else:
                yield csv_line(_csv_row(listing))

    def body() -> Iterator[str]:
        if format == "csv":
            yield csv_line(CSV_COLUMNS)
        yield from rows()

    media = "text/csv; charset=utf-8" if format == "csv" else "application/x-ndjson"
    return StreamingResponse(
        body(),
        media_type=media,
        headers={
            "Content-Disposition": f'attachment; filename="dragnet-export.{format}"',
            "X-Total-Count": str(min(total, limit)),
        },
    )


# -- saved searches ------------------------------------------------------------------------------
class SavedSearchIn(RequestBody):
    name: str = Field(..., max_length=200)
    params: dict[str, list[str]] = Field(default_factory=dict, description="search parameters, as on /api/search")
    webhook_url: str | None = Field(None, max_length=2000)


@router.post(
    "/saved-searches", response_model=alerts.SavedSearch, status_code=201, responses=answers(400, *AUTH, *BODY, 503)
)
def create_saved(request: Request, body: SavedSearchIn, principal: Principal = Depends(analyst)) -> alerts.SavedSearch:
    try:
        return alerts.create_saved_search(
            settings_of(request), listing_store(request), principal, body.name, body.params, body.webhook_url
        )
    except (QueryError, ValueError) as exc:
        raise HTTPException(400, detail=str(exc)) from exc


@router.get("/saved-searches", response_model=list[alerts.SavedSearch], responses=answers(*AUTH))
def list_saved(request: Request, principal: Principal = Depends(analyst)) -> list[alerts.SavedSearch]:
    return alerts.list_saved_searches(settings_of(request), principal)


def _own_saved(request: Request, principal: Principal, saved_id: str) -> alerts.SavedSearch:
    saved = alerts.get_saved_search(settings_of(request), saved_id)
    if saved is None or (saved.owner_key_id != principal.key_id and principal.role != "admin"):
        raise HTTPException(404, "no such saved search")
    return saved


@router.post(
    "/saved-searches/{saved_id}/check", response_model=alerts.CheckOutcome, responses=answers(*AUTH, 404, 413, 503)
)
def check_saved(request: Request, saved_id: str, principal: Principal = Depends(analyst)) -> alerts.CheckOutcome:
    """Run the saved search now and deliver new listings to its webhook."""
    _own_saved(request, principal, saved_id)
    return alerts.check_saved_search(settings_of(request), listing_store(request), saved_id, by=principal)


@router.delete("/saved-searches/{saved_id}", status_code=204, responses=answers(*AUTH, 404, 413))
def delete_saved(request: Request, saved_id: str, principal: Principal = Depends(analyst)) -> Response:
    _own_saved(request, principal, saved_id)
    alerts.delete_saved_search(settings_of(request), principal, saved_id)
    return Response(status_code=204)


# -- admin: keys and audit ---------------------------------------------------------------------------
class KeyIn(RequestBody):
    name: str = Field(..., max_length=200)
    role: str


class KeyOut(BaseModel):
    key: str = Field(..., description="shown once; only its hash is stored")
    name: str
    role: str


@router.post("/keys", response_model=KeyOut, status_code=201, tags=["admin"], responses=answers(400, *AUTH, *BODY))
def create_key(request: Request, body: KeyIn, principal: Principal = Depends(admin)) -> KeyOut:
    try:
        validate_role(body.role)
    except ValueError as exc:
        raise HTTPException(400, str(exc)) from exc
    key = KeyStore(settings_of(request)).create_key(body.name, body.role)
    audit.record(principal, "create_key", f"name={body.name} role={body.role}", None, settings=settings_of(request))
    return KeyOut(key=key, name=body.name, role=body.role)


class KeyInfo(BaseModel):
    key_id: str
    name: str
    role: str
    state: Literal["active", "expired", "revoked"]
    created_at: datetime
    expires_at: datetime | None = None
    revoked_at: datetime | None = None


@router.get("/keys", response_model=list[KeyInfo], tags=["admin"], responses=answers(*AUTH))
def list_keys(request: Request, principal: Principal = Depends(admin)) -> list[KeyInfo]:
    keys = [KeyInfo.model_validate(entry) for entry in KeyStore(settings_of(request)).list_keys()]
    audit.record(principal, "keys.list", "", len(keys), settings=settings_of(request))
    return keys


@router.delete("/keys/{key_id}", status_code=204, tags=["admin"], responses=answers(*AUTH, 404, 413))
def revoke_key(request: Request, key_id: str, principal: Principal = Depends(admin)) -> Response:
    revoked = KeyStore(settings_of(request)).revoke(key_id[:64])
    audit.record(principal, "keys.revoke", key_id[:64], int(revoked), settings=settings_of(request))
    if not revoked:
        raise HTTPException(404, "no active key with that id")
    return Response(status_code=204)


@router.post(
    "/keys/{key_id}/rotate", response_model=KeyOut, status_code=201, tags=["admin"], responses=answers(*AUTH, 404, 413)
)
def rotate_key(request: Request, key_id: str, principal: Principal = Depends(admin)) -> KeyOut:
    store = KeyStore(settings_of(request))
    try:
        key = store.rotate(key_id[:64])
    except KeyError:
        audit.record(principal, "keys.rotate", key_id[:64], 0, settings=settings_of(request))
        raise HTTPException(404, "no active key with that id") from None
    entry = next(e for e in store.list_keys() if key.startswith(f"dn_{e['key_id']}_"))
    audit.record(principal, "keys.rotate", f"{key_id[:64]} -> {entry['key_id']}", 1, settings=settings_of(request))
    return KeyOut(key=key, name=str(entry["name"]), role=str(entry["role"]))


@router.get("/audit", response_model=list[audit.AuditEntry], tags=["admin"], responses=answers(*AUTH))
def audit_log(
    request: Request,
    text: str = "",
    who: str | None = None,
    action: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: int = Query(200, ge=1, le=10_000),
    principal: Principal = Depends(admin),
) -> list[audit.AuditEntry]:
    """Search the audit log (admins only)."""
    return audit.search_audit(
        text=text, who=who, action=action, since=since, until=until, limit=limit, settings=settings_of(request)
    )


__all__ = ["router", "run_search", "evidence_links"]
