"""Search request bodies of the engine backend, one set for both engines: the structured
filters, the user's text rebuilt by the safe parser (its own string never reaches the engine),
sorting, highlights and facets."""

from __future__ import annotations

from typing import Any

from index.docs import as_utc
from index.fields import expand
from index.query import HL_POST, HL_PRE, parse_user_query, to_simple_query_string
from index.store import FACET_FIELDS, HISTOGRAM_SPLIT_SIZE, SearchQuery

# title and text as posted, and their folded copies (index.folding): a listing that spells a word
# in full-width letters, with combining marks or split by invisible characters is found by the
# plain word; highlights are asked of title and text only, so they show what was posted
_TEXT_FIELDS = [
    "title^3",
    "title.std^2",
    "text",
    "text.std",
    "dn.title_folded^3",
    "dn.title_folded.std^2",
    "dn.text_folded",
    "dn.text_folded.std",
    "dn.entity_text",  # vendor names, handles, fingerprints, wallets (index.entities.entity_text)
]
_TITLE_FIELDS = ["title^3", "title.std^2", "dn.title_folded^3", "dn.title_folded.std^2"]
_SQS_FLAGS = "AND|OR|NOT|PHRASE|PREFIX|PRECEDENCE|WHITESPACE"
_FACET_SOURCE = {
    "market": "market",
    "platform": "platform",
    "vendor": "dn.vendor",
    "substance": "dn.substance",
    "ships_from": "ships_from",
    "source_kind": "source_kind",
    "is_drug_sale": "dn.is_drug_sale",
    "intent": "dn.intent",
}


def _sort_clause(sort: str) -> list[dict[str, Any]]:
    tiebreak = {"id": "asc"}
    clauses: dict[str, list[dict[str, Any]]] = {
        "relevance": [{"_score": "desc"}, tiebreak],
        "newest": [{"dn.seen_at": "desc"}, tiebreak],
        "oldest": [{"dn.seen_at": "asc"}, tiebreak],
        "price_asc": [{"dn.price_usd": {"order": "asc", "missing": "_last"}}, tiebreak],
        "price_desc": [{"dn.price_usd": {"order": "desc", "missing": "_last"}}, tiebreak],
        "score_desc": [{"dn.score": {"order": "desc", "missing": "_last"}}, tiebreak],
    }
    return clauses[sort]


def build_filters(query: SearchQuery) -> list[dict[str, Any]]:
    """The ``bool.filter`` clauses for a query's structured filters (no user text here)."""
    filters: list[dict[str, Any]] = []
    for name, field in (
        ("market", "market"),
        ("platform", "platform"),
        ("vendor", "dn.vendor"),
        ("substance", "dn.substance"),
        ("ships_from", "ships_from"),
        ("source_kind", "source_kind"),
        ("intent", "dn.intent"),
        ("identifiers", "dn.identifiers"),
        ("ids", "id"),
    ):
        values = getattr(query, name)
        if values:
            filters.append({"terms": {field: list(values)}})
    filters.extend({"term": {"dn.entities": key}} for key in query.entities)  # every one must hold
    if query.is_drug_sale is not None:
        filters.append({"term": {"dn.is_drug_sale": query.is_drug_sale}})
    if query.pgp_changed is True:
        filters.append({"term": {"dn.flags": "pgp_changed"}})
    elif query.pgp_changed is False:
        filters.append({"bool": {"must_not": [{"term": {"dn.flags": "pgp_changed"}}]}})
    if query.min_score is not None:
        filters.append({"range": {"dn.score": {"gte": query.min_score}}})
    price: dict[str, float] = {}
    if query.price_usd_min is not None:
        price["gte"] = query.price_usd_min
    if query.price_usd_max is not None:
        price["lte"] = query.price_usd_max
    if price:
        filters.append({"range": {"dn.price_usd": price}})
    seen: dict[str, str] = {}
    if query.seen_from is not None:
        seen["gte"] = as_utc(query.seen_from).isoformat()
    if query.seen_to is not None:
        seen["lte"] = as_utc(query.seen_to).isoformat()
    if seen:
        filters.append({"range": {"dn.seen_at": seen}})
    return filters


def build_query(query: SearchQuery) -> dict[str, Any]:
    """The engine query: filters plus the user text through ``simple_query_string`` rebuilt by
    the safe parser (the user's own string never reaches the engine)."""
    query = expand(query)
    must: list[dict[str, Any]] = []
    for text, fields in ((query.text, _TEXT_FIELDS), (query.title_text, _TITLE_FIELDS)):
        if not text.strip():
            continue
        parsed = parse_user_query(text)
        if not parsed.empty:
            must.append(
                {
                    "simple_query_string": {
                        "query": to_simple_query_string(parsed),
                        "fields": fields,
                        "default_operator": "and",
                        "flags": _SQS_FLAGS,
                        "lenient": True,
                    }
                }
            )
    return {"bool": {"must": must or [{"match_all": {}}], "filter": build_filters(query)}}


def build_search_body(query: SearchQuery) -> dict[str, Any]:
    """One request body for both engines."""
    query = expand(query)
    has_text = bool(query.text.strip() or query.title_text.strip())
    sort = query.sort if (query.sort != "relevance" or has_text) else "newest"
    body: dict[str, Any] = {
        "query": build_query(query),
        "size": query.size,
        "sort": _sort_clause(sort),
        "track_total_hits": True,
        "_source": {"excludes": ["dn"]},
    }
    if query.search_after:
        body["search_after"] = list(query.search_after)
    if query.highlight and has_text:
        body["highlight"] = {
            "pre_tags": [HL_PRE],
            "post_tags": [HL_POST],
            "require_field_match": False,
            "encoder": "default",
            "fields": {"title": {"number_of_fragments": 0}, "text": {"fragment_size": 160, "number_of_fragments": 3}},
        }
    if query.facets:
        body["aggs"] = {name: {"terms": {"field": _FACET_SOURCE[name], "size": 20}} for name in FACET_FIELDS}
    return body


def histogram_body(query: SearchQuery, interval: str, split: str | None = None) -> dict[str, Any]:
    """Listings per day, week or month of ``dn.seen_at`` (empty buckets kept), each bucket split
    by the ``split`` facet's most frequent values when asked."""
    body: dict[str, Any] = {
        "query": build_query(query),
        "size": 0,
        "track_total_hits": False,
        "aggs": {
            "seen": {
                "date_histogram": {
                    "field": "dn.seen_at",
                    "calendar_interval": interval,
                    "min_doc_count": 0,
                    "time_zone": "UTC",
                }
            }
        },
    }
    if split:
        body["aggs"]["seen"]["aggs"] = {
            "split": {"terms": {"field": _FACET_SOURCE[split], "size": HISTOGRAM_SPLIT_SIZE}}
        }
    return body


def history_body(listing_id: str) -> dict[str, Any]:
    """The archived versions of one listing, oldest first."""
    return {
        "query": {"term": {"listing_id": listing_id}},
        "size": 1000,
        "sort": [{"stored_at": "asc"}, {"doc_id": "asc"}],
    }
