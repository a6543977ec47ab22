"""Index templates of the engine backend: the listing and version mappings, identical on
Elasticsearch 8/9 and OpenSearch 2/3.

``title``/``text`` use the English analyzer with a ``.std`` standard-analyzer sub-field, keyword
fields (``.raw`` on title), ``price`` as ``double``, dates, the classification object, and
``dn.*``: the derived filter/sort fields shared with the embedded backend
(:func:`index.docs.flat_fields`)."""

from __future__ import annotations

import hashlib
import json
from typing import Any

_KW = {"type": "keyword", "ignore_above": 1024}
# the folded copies of title and text (index.folding.folded_copy), analysed as the originals are;
# present only where folding changes the text
_FOLDED = {"type": "text", "analyzer": "english", "fields": {"std": {"type": "text", "analyzer": "standard"}}}
_DISABLED = {"type": "object", "enabled": False}
# entities as words (index.entities.entity_text): standard analyzer, no stemming of handles
_ENTITY_TEXT = {"type": "text", "analyzer": "standard"}
# what markets show besides the price (the site profiles' fields): keywords to filter and facet
# on; the tiers and the free attributes are kept in _source only (a profile names its own
# attribute keys: mapping them would let any profile grow the mapping)
_SHORT_KW = {"type": "keyword", "ignore_above": 256}
_PRICE_ADDED: dict[str, Any] = {
    "crypto_amount": {"type": "double"},
    "crypto_currency": {"type": "keyword"},
    "usd_rate": {"type": "double"},
    "rate_date": {"type": "date"},
}
_MARKET_ADDED: dict[str, Any] = {
    "escrow": _SHORT_KW,
    "payment": _SHORT_KW,
    "category": _SHORT_KW,
    "location": {"properties": {"city": _SHORT_KW, "district": _SHORT_KW, "drop_type": _SHORT_KW}},
    "offers": _DISABLED,
    "attributes": _DISABLED,
}
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
            **_PRICE_ADDED,
        }
    },
    "quantity": {"properties": {"value": {"type": "float"}, "unit": {"type": "keyword"}}},
    "ships_from": {"type": "keyword"},
    "ships_to": {"type": "keyword"},
    **_MARKET_ADDED,
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
            "flags": {"type": "keyword"},  # pgp_changed (index.docs.flat_fields)
            "entities": _KW,
            "entity_text": _ENTITY_TEXT,
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
    "price": {"properties": _PRICE_ADDED},
    **_MARKET_ADDED,
    "dn": {
        "properties": {
            "intent": {"type": "keyword"},
            "flags": {"type": "keyword"},
            "title_folded": _FOLDED,
            "text_folded": _FOLDED,
            "entities": _KW,
            "entity_text": _ENTITY_TEXT,
        }
    },
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


def _fingerprint(value: Any) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True).encode()).hexdigest()[:16]


def versions_lifecycle_phases(warm_after_days: int, retention_days: int | None) -> list[tuple[str, int, str]]:
    """The lifecycle of a monthly version index as (phase, age in days, action), one list for
    both engines: hot from creation, warm (lower recovery priority) after ``warm_after_days``,
    deleted after ``retention_days`` when that is set.  No read-only or force-merge phase: a
    month's index receives the versions of its listings whenever they change, for ever."""
    phases = [("hot", 0, "priority:100")]
    if retention_days is None or warm_after_days < retention_days:
        phases.append(("warm", warm_after_days, "priority:10"))
    if retention_days is not None:
        phases.append(("delete", retention_days, "delete"))
    return phases


def ilm_policy(phases: list[tuple[str, int, str]]) -> dict[str, Any]:
    """The Elasticsearch ILM policy body; ``_meta.fingerprint`` says whether a stored policy is
    this one (ensure_schema then leaves it alone)."""
    body: dict[str, Any] = {"phases": {}}
    for name, days, what in phases:
        if what == "delete":
            actions: dict[str, Any] = {"delete": {}}
        else:
            actions = {"set_priority": {"priority": int(what.split(":")[1])}}
        body["phases"][name] = {"min_age": f"{days}d", "actions": actions}
    body["_meta"] = {"managed_by": "dragnet", "fingerprint": _fingerprint(body["phases"])}
    return body


def ism_policy(phases: list[tuple[str, int, str]], index_pattern: str) -> dict[str, Any]:
    """The OpenSearch ISM policy body: one state per phase, moved on by index age; attached to
    new indices matching ``index_pattern`` by its ``ism_template`` (ISM's own way of attaching;
    Elasticsearch names the policy in the index template instead)."""
    states: list[dict[str, Any]] = []
    for position, (name, _days, what) in enumerate(phases):
        if what == "delete":
            actions: list[dict[str, Any]] = [{"delete": {}}]
        else:
            actions = [{"index_priority": {"priority": int(what.split(":")[1])}}]
        transitions = []
        if position + 1 < len(phases):
            following, days, _ = phases[position + 1]
            transitions.append({"state_name": following, "conditions": {"min_index_age": f"{days}d"}})
        states.append({"name": name, "actions": actions, "transitions": transitions})
    template = [{"index_patterns": [index_pattern], "priority": 100}]
    fingerprint = _fingerprint([states, template])
    return {
        "description": f"Dragnet listing versions lifecycle (fingerprint {fingerprint})",
        "default_state": phases[0][0],
        "states": states,
        "ism_template": template,
    }
