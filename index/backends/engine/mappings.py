"""Index templates of the engine backend: the listing and version mappings, identical on
Elasticsearch 8/9 and OpenSearch 2/3.

``title``/``text`` use the English analyzer with a ``.std`` standard-analyzer sub-field, keyword
fields (``.raw`` on title), ``price`` as ``double``, dates, the classification object, and
``dn.*``: the derived filter/sort fields shared with the embedded backend
(:func:`index.docs.flat_fields`)."""

from __future__ import annotations

from typing import Any

_KW = {"type": "keyword", "ignore_above": 1024}
# the folded copies of title and text (index.folding.folded_copy), analysed as the originals are;
# present only where folding changes the text
_FOLDED = {"type": "text", "analyzer": "english", "fields": {"std": {"type": "text", "analyzer": "standard"}}}
_DISABLED = {"type": "object", "enabled": False}
LISTING_PROPERTIES: dict[str, Any] = {
    "id": {"type": "keyword"},
    "url": _KW,
    "canonical_url": _KW,
    "source_kind": {"type": "keyword"},
    "platform": _KW,
    "market": _KW,
    "mirror": _KW,
    "crawled_at": {"type": "date"},
    "first_seen": {"type": "date"},
    "last_seen": {"type": "date"},
    "version": {"type": "integer"},
    "title": {
        "type": "text",
        "analyzer": "english",
        "fields": {"std": {"type": "text", "analyzer": "standard"}, "raw": {"type": "keyword", "ignore_above": 512}},
    },
    "text": {"type": "text", "analyzer": "english", "fields": {"std": {"type": "text", "analyzer": "standard"}}},
    "lang": {"type": "keyword"},
    "price": {
        "properties": {
            # double, not scaled_float: scaled_float lives in the mapper-extras module, which
            # Elasticsearch does not publish as a jar (the test node is assembled from jars)
            "amount": {"type": "double"},
            "currency": {"type": "keyword"},
            "usd": {"type": "double"},
        }
    },
    "quantity": {"properties": {"value": {"type": "float"}, "unit": {"type": "keyword"}}},
    "ships_from": {"type": "keyword"},
    "ships_to": {"type": "keyword"},
    "vendor": {
        "properties": {
            "name": {"type": "keyword", "ignore_above": 256, "fields": {"text": {"type": "text"}}},
            "market": _KW,
            "pgp_fingerprint": {"type": "keyword"},
        }
    },
    "contacts": {"properties": {"kind": {"type": "keyword"}, "handle": _KW}},
    "crypto": {"properties": {"chain": {"type": "keyword"}, "address": _KW}},
    "pgp_fingerprints": {"type": "keyword"},
    "images": {"type": "keyword"},
    "classification": {
        "properties": {
            "is_drug_sale": {"type": "boolean"},
            "score": {"type": "float"},
            "threshold": {"type": "float"},
            "model_version": {"type": "keyword"},
            "substances": _DISABLED,
            "evidence": _DISABLED,
            "explanation": {"type": "text", "analyzer": "english"},
        }
    },
    "content_sha256": {"type": "keyword"},
    "snapshot": {"properties": {"warc_file": _KW, "record_id": _KW}},
    "screenshot_sha256": {"type": "keyword"},
    "takedown": {"properties": {"platform": {"type": "keyword"}, "status": {"type": "keyword"}, "history": _DISABLED}},
    "dn": {
        "properties": {
            "vendor": {"type": "keyword", "ignore_above": 256},
            "substance": {"type": "keyword"},
            "intent": {"type": "keyword"},
            "identifiers": _KW,
            "is_drug_sale": {"type": "boolean"},
            "score": {"type": "float"},
            # double, not scaled_float: OpenSearch 2.19 skips documents when sorting a scaled_float
            # (its sort optimisation), so the sort/range copy is a plain double; price.* stays scaled.
            "price_usd": {"type": "double"},
            "seen_at": {"type": "date"},
            "title_folded": _FOLDED,
            "text_folded": _FOLDED,
        }
    },
}
# fields added to the listing mapping after indices were first created with it: put on existing
# indices at every start (only new fields: changing a field's type would be refused)
ADDED_PROPERTIES: dict[str, Any] = {
    "dn": {"properties": {"intent": {"type": "keyword"}, "title_folded": _FOLDED, "text_folded": _FOLDED}}
}
VERSION_PROPERTIES: dict[str, Any] = {
    "listing_id": {"type": "keyword"},
    "doc_id": {"type": "keyword"},
    "stored_at": {"type": "date"},
    "listing": _DISABLED,
}

# while a bulk load runs: no refresh, translog fsync in the background
LOAD_SETTINGS = {"index": {"refresh_interval": "-1", "translog.durability": "async"}}


def index_settings(shards: int, replicas: int) -> dict[str, Any]:
    return {"number_of_shards": shards, "number_of_replicas": replicas, "refresh_interval": "1s"}


def listings_template(prefix: str, settings: dict[str, Any]) -> dict[str, Any]:
    """The template of the dated listing indices behind the ``P-listings`` write alias."""
    return {
        "index_patterns": [f"{prefix}-listings-*"],
        "priority": 100,
        "template": {"settings": settings, "mappings": {"dynamic": False, "properties": LISTING_PROPERTIES}},
    }


def versions_template(prefix: str, settings: dict[str, Any], alias: str) -> dict[str, Any]:
    """The template of the monthly version indices, read through ``alias``."""
    return {
        "index_patterns": [f"{prefix}-versions-*"],
        "priority": 100,
        "template": {
            "settings": settings,
            "mappings": {"dynamic": False, "properties": VERSION_PROPERTIES},
            "aliases": {alias: {}},
        },
    }

