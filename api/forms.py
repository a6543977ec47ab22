"""Form bodies and query strings of the case and review pages, read strictly.

Why not :func:`api.routes.ui._form`: a list of checkboxes sends the same name many times, and
that helper keeps only the first value.  Unknown fields and parameters are refused (a typo must
not silently do nothing), and sizes are capped before anything is parsed."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any
from urllib.parse import parse_qs

from fastapi import Depends, HTTPException, Request

MAX_FORM_BYTES = 65_536
MAX_VALUES = 500


class FormError(ValueError):
    """A form or query the page does not accept (answered as 400 with the reason)."""


async def form_lists(request: Request, allowed: Iterable[str]) -> dict[str, list[str]]:
    """The urlencoded body as name -> values; FormError for a field not in ``allowed``."""
    body = (await request.body())[:MAX_FORM_BYTES].decode("utf-8", "replace")
    try:
        parsed = parse_qs(body, keep_blank_values=True, max_num_fields=MAX_VALUES)
    except ValueError:
        raise FormError(f"more than {MAX_VALUES} form fields") from None
    unknown = sorted(set(parsed) - set(allowed))
    if unknown:
        raise FormError(f"unknown form field(s): {', '.join(name[:40] for name in unknown[:5])}")
    return {name: values[:MAX_VALUES] for name, values in parsed.items()}


def unknown_params_message(request: Request, allowed: Iterable[str]) -> str | None:
    """The refusal for query parameters outside ``allowed``, worded as
    :func:`api.params.refuse_unknown` words it for the search routes (names quoted and cut to 40
    characters, then the known ones), or None when every parameter is known."""
    known = sorted(allowed)
    unknown = sorted(set(request.query_params) - set(known))
    if not unknown:
        return None
    shown = ", ".join(repr(name[:40]) for name in unknown[:5])
    return f"unknown query parameter(s) {shown}; known: {', '.join(known) or 'none'}"


def refuse_unknown_params(request: Request, allowed: Iterable[str]) -> None:
    """400 for a query parameter the route does not know."""
    message = unknown_params_message(request, allowed)
    if message:
        raise HTTPException(400, message)


class UnknownPageParams(Exception):
    """A page's query string names a parameter the page does not read; the app answers it with
    the 400 error page (not JSON), naming the parameters."""


def page_params(*allowed: str) -> Any:
    """A route dependency for HTML pages: refuse query parameters other than ``allowed``.

    Why: a page that silently dropped a misspelt filter (``?markt=alpha``) would show an analyst
    unfiltered results as if they were filtered; the JSON API refuses such a request with a 400
    and the pages now do the same, before anything is searched or audited."""

    def check(request: Request) -> None:
        message = unknown_params_message(request, allowed)
        if message:
            raise UnknownPageParams(message)

    return Depends(check)


def first(form: dict[str, list[str]], name: str, default: str = "") -> str:
    values = form.get(name)
    return values[0] if values else default


# the search results' bulk form (api/templates/bulk_actions.html): into a case, or notices
BULK_FIELDS = ("listing_id", "case", "case_name", "action")


def selected_ids(form: dict[str, list[str]], field: str, limit: int) -> list[str]:
    """The ticked ids of a bulk form, empty values left out, at most ``limit``."""
    return [value for value in form.get(field, []) if value][:limit]
