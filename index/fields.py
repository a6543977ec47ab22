"""Field syntax in the analyst's query text: ``vendor:Lion pgp:"1A2B 3C4D ..." fentanyl``.

Known fields (:data:`FIELDS`): ``vendor:``, ``pgp:``, ``contact:``, ``wallet:``, ``onion:``,
``phone:`` (entities, :mod:`index.entities`), ``market:``, ``substance:``, ``intent:``,
``category:``, ``city:``, ``district:``, ``drop:`` (filters; the last four as a market's profile
reads them: a dead-drop shop's category, city, district and drop types) and ``title:`` (words
searched in titles only).  A value is one word or a ``"quoted value"``.
Every field clause must hold (AND), together with the remaining free text.

A clause is ``name:value`` with the name made of letters only and the value right after the
colon.  Text that merely contains a colon is left alone: ``10:30``, ``http://x``, ``note: x``
(a space after the colon), ``_exists_:x``.  A name that looks like a field but is not one
(``seller:x``) is refused with the list of known fields, because silently searching its words
would answer a different question than the one asked.

Both backends call :func:`expand` before they build their query, so the syntax means the same
on SQLite and on the engines."""

from __future__ import annotations

import re

from index.entities import lookup_key
from index.query import MAX_TERMS
from index.store import QueryError, SearchQuery

ENTITY_FIELDS = ("vendor", "pgp", "contact", "wallet", "onion", "phone")
FILTER_FIELDS = ("market", "substance", "intent", "category", "city", "district", "drop")
FIELDS = (*ENTITY_FIELDS, *FILTER_FIELDS, "title")
# URL schemes and the like: ``mailto:x`` is text, not an unknown field
_SCHEMES = frozenset({"http", "https", "ftp", "mailto", "magnet", "tel", "bitcoin", "monero", "ethereum", "xmpp"})
# a fingerprint typed in groups ("1A2B 3C4D ...") is one word in free text, as it is indexed
_SPACED_FPR = re.compile(r"(?<![0-9A-Za-z])((?:[0-9A-Fa-f]{4} {1,2}){9}[0-9A-Fa-f]{4})(?![0-9A-Za-z])")
_CLAUSE = re.compile(r'(?<!\S)(-?)([A-Za-z]{2,20}):("[^"]*"?|[^\s"]+)')


def known_fields_message() -> str:
    return "known fields: " + ", ".join(f"{name}:" for name in FIELDS)


def split_fields(text: str) -> tuple[str, list[str], str]:
    """(free text, entity/filter keys that must all be present, title-only text)."""
    keys: list[str] = []
    titles: list[str] = []

    def take(match: re.Match[str]) -> str:
        negate, name, raw = match.group(1), match.group(2), match.group(3)
        field = name.casefold()
        if field in _SCHEMES or raw.startswith("//"):
            return match.group(0)
        if field not in FIELDS:
            raise QueryError(f"unknown field {name}: in the query; {known_fields_message()}")
        if negate:
            raise QueryError(f"a field clause cannot be excluded (-{name}:); search for what must be there")
        value = raw[1:].rstrip('"') if raw.startswith('"') else raw
        if field == "title":
            if not value.strip():
                raise QueryError("title: has no words to search for")
            titles.append(f'"{value}"' if raw.startswith('"') else value)
        else:
            keys.append(lookup_key(field, value))
        if len(keys) + len(titles) > MAX_TERMS:
            raise QueryError(f"too many field clauses (at most {MAX_TERMS})")
        return " "

    free = _SPACED_FPR.sub(lambda m: "".join(m.group(1).split()), _CLAUSE.sub(take, text))
    return " ".join(free.split()), keys, " ".join(titles)


def expand(query: SearchQuery) -> SearchQuery:
    """``query`` with the field clauses of its text moved to ``entities`` and ``title_text``."""
    if ":" not in query.text and not _SPACED_FPR.search(query.text):
        return query
    free, keys, titles = split_fields(query.text)
    return query.model_copy(
        update={
            "text": free,
            "entities": [*query.entities, *keys],
            "title_text": " ".join(t for t in (query.title_text, titles) if t),
        }
    )
