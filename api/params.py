"""Query-string <-> :class:`SearchQuery`, shared by the JSON API, the web UI, exports and saved
searches, so a saved search or an export link means exactly what the search page showed."""

from __future__ import annotations

import base64
import json
import math
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from fastapi import HTTPException
from pydantic import BaseModel, ConfigDict, ValidationError

from index.entities import lookup_key
from index.store import QueryError, SearchQuery

LIST_PARAMS = ("market", "platform", "vendor", "substance", "ships_from", "source_kind", "intent")
# entity filters (index.entities): every value must be on the listing, as the q syntax pgp:... says
ENTITY_PARAMS = ("pgp", "contact", "wallet", "onion", "phone")
PARAM_ALIASES = {"crypto": "wallet"}  # ?crypto= is the wallet filter under the name analysts use
SCALAR_PARAMS = (
    "q",
    "is_drug_sale",
    "pgp_changed",
    "min_score",
    "price_min",
    "price_max",
    "seen_from",
    "seen_to",
    "sort",
)
ALL_PARAMS = LIST_PARAMS + ENTITY_PARAMS + SCALAR_PARAMS
# what each route reads beside the search parameters (paging, histogram interval and split, export format)
CONTROL_PARAMS = ("size", "after", "interval", "split", "format")
MAX_VALUES = 50


def encode_after(values: list[Any] | None) -> str | None:
    """``search_after`` as an opaque URL-safe token."""
    if not values:
        return None
    return base64.urlsafe_b64encode(json.dumps(values, separators=(",", ":")).encode()).decode().rstrip("=")


def decode_after(token: str | None) -> list[Any] | None:
    if not token:
        return None
    try:
        if len(token) > MAX_TOKEN_CHARS:
            raise ValueError("too long")
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        values = json.loads(raw)
    except (ValueError, RecursionError) as exc:  # RecursionError: nested deeper than the parser goes
        raise QueryError("invalid page token") from exc
    if not isinstance(values, list) or not 1 <= len(values) <= 4 or not all(map(_sort_value, values)):
        raise QueryError("invalid page token")
    return values


MAX_TOKEN_CHARS = 4096


def _sort_value(value: Any) -> bool:
    """A value a sort key can hold: text, a 64-bit integer or a finite number."""
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return -(2**63) <= value < 2**63
    if isinstance(value, float):
        return math.isfinite(value)
    return isinstance(value, str) and len(value) <= 1024


def _date(value: str) -> datetime:
    try:
        moment = datetime.fromisoformat(value)
    except ValueError as exc:
        raise QueryError(f"not a date: {value[:40]!r} (use YYYY-MM-DD)") from exc
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _values(params: Any, name: str) -> list[str]:
    return params.getlist(name) if hasattr(params, "getlist") else list(params.get(name, []))


def clean_params(params: Any) -> dict[str, list[str]]:
    """Only known parameters, non-empty values, bounded counts (``params``: a Starlette
    ``QueryParams``/``MultiDict`` or a ``dict[str, list[str]]``).  ``crypto`` is read as
    ``wallet``."""
    out: dict[str, list[str]] = {}
    for name in ALL_PARAMS:
        raw = _values(params, name) + [
            v for alias, to in PARAM_ALIASES.items() if to == name for v in _values(params, alias)
        ]
        values = [v.strip() for v in raw if isinstance(v, str) and v.strip()][:MAX_VALUES]
        if values:
            out[name] = values if name in LIST_PARAMS or name in ENTITY_PARAMS else values[:1]
    return out


def refuse_unknown(params: Any, allowed: tuple[str, ...] = CONTROL_PARAMS) -> None:
    """:class:`QueryError` naming the parameters that are neither search parameters nor one of
    ``allowed``: a misspelt filter (``?pgpp=``) must not silently return every listing."""
    names = list(params.keys()) if hasattr(params, "keys") else []
    unknown = sorted({str(n) for n in names} - set(ALL_PARAMS) - set(PARAM_ALIASES) - set(allowed))
    if unknown:
        shown = ", ".join(repr(n[:40]) for n in unknown[:5])
        raise QueryError(
            f"unknown query parameter(s) {shown}; known: {', '.join((*ALL_PARAMS, *PARAM_ALIASES, *allowed))}"
        )


def to_query(
    params: dict[str, list[str]],
    *,
    size: int = 20,
    after: str | None = None,
    facets: bool = True,
    highlight: bool = True,
) -> SearchQuery:
    """Build the query; bad input raises :class:`QueryError` (shown to the user as a 400)."""
    first = {k: v[0] for k, v in params.items() if k in SCALAR_PARAMS}
    fields: dict[str, Any] = {name: params.get(name, []) for name in LIST_PARAMS}
    fields.update(
        text=first.get("q", ""), size=size, search_after=decode_after(after), facets=facets, highlight=highlight
    )
    fields["entities"] = [lookup_key(name, value) for name in ENTITY_PARAMS for value in params.get(name, [])]
    for flag in ("is_drug_sale", "pgp_changed"):
        if flag in first:
            value = first[flag].lower()
            if value not in ("true", "false"):
                raise QueryError(f"{flag} must be true or false")
            fields[flag] = value == "true"
    for name, target in (("min_score", "min_score"), ("price_min", "price_usd_min"), ("price_max", "price_usd_max")):
        if name in first:
            try:
                fields[target] = float(first[name])
            except ValueError as exc:
                raise QueryError(f"{name} must be a number") from exc
    if "seen_from" in first:
        fields["seen_from"] = _date(first["seen_from"])
    if "seen_to" in first:
        moment = _date(first["seen_to"])
        if len(first["seen_to"]) == 10:  # a bare day includes the whole day
            moment = moment.replace(hour=23, minute=59, second=59)
        fields["seen_to"] = moment
    if "sort" in first:
        fields["sort"] = first["sort"]
    try:
        return SearchQuery(**fields)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors())
        raise QueryError(f"invalid search: {problems}") from None


def describe(params: dict[str, list[str]]) -> str:
    """The query as one line for the audit log."""
    return urlencode([(k, v) for k, values in sorted(params.items()) for v in values])


def query_error(exc: QueryError) -> HTTPException:
    return HTTPException(400, detail=str(exc))


class RequestBody(BaseModel):
    """Base of every JSON body the API accepts: an unknown field is refused (a typo must not
    silently do nothing), and so are NaN and infinities (``1e999`` parses to one)."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)
