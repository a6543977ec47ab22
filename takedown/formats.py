"""Serialise a feed page as JSON, NDJSON, CSV or a STIX 2.1 bundle.

STIX mapping: each notice is an ``indicator`` whose id is derived from the notice id (so a new
version of a notice is a new version of the same STIX object: same id, later ``modified``), with
a STIX pattern over the URL (and the account when known), ``valid_from`` = first seen,
``valid_until`` = expiry, ``confidence`` = score x 100, the TLP marking, and ``revoked: true`` as
the tombstone.  Dragnet's own fields (notice id and version, status, verdict details, law, proof)
ride in a STIX 2.1 property extension (§7.3): every bundle carries the ``extension-definition``
object :data:`EXTENSION_ID`, and each indicator holds them under ``extensions[EXTENSION_ID]``.
External references carry no bare URLs: the platform's own id of the post (``external_id``) and
the evidence bundle with its SHA-256; the post URL is in the pattern and in the extension.

Identifiers are UUIDv4 as STIX 2.1 §2.9 recommends for SDOs, derived from a SHA-256 of the name
(the notifier, the notice id) with the version and variant bits set: stable, so a notice's next
version is the next version of the same STIX object.  See ``docs/standards.md``.
"""

from __future__ import annotations

import hashlib
import io
import json
import uuid
from typing import Any

import stix2

from dragnet.csvsafe import csv_line
from takedown.notices import Notice
from takedown.store import FeedRow

NAMESPACE = uuid.UUID("5a0c1d1e-4f3c-4bf0-9d7e-6d7261676e65")
EXTENSION_ID = "extension-definition--3f6c2a8e-7d1b-4c59-9e0a-5b2d8f4a1c6e"
EXTENSION_CREATED = "2026-01-01T00:00:00.000Z"
FORMATS = ("json", "ndjson", "csv", "stix")
MEDIA_TYPES = {
    "json": "application/json",
    "ndjson": "application/x-ndjson",
    "csv": "text/csv; charset=utf-8",
    "stix": "application/stix+json;version=2.1",
}
CSV_COLUMNS = (
    "seq",
    "id",
    "version",
    "modified",
    "should_delete",
    "status",
    "feedback",
    "platform",
    "url",
    "canonical_url",
    "content_type",
    "username",
    "profile_url",
    "native_ids",
    "score",
    "confidence",
    "severity",
    "substances",
    "explanation",
    "dsa_category",
    "dsa_keyword",
    "legal_ground",
    "jurisdiction",
    "trusted_flagger",
    "tlp",
    "first_seen",
    "last_seen",
    "expires_at",
    "bundle",
    "bundle_sha256",
    # the platform's statement of reasons (DSA Art. 17; DSA Transparency Database names)
    "decision_visibility",
    "territorial_scope",
    "automated_detection",
    "automated_decision",
    "application_date",
    "decision_ground",
    "decision_legal_or_contractual_ground",
    "decision_facts",
    "redress",
    # the latest "need more information" exchange
    "info_question",
    "info_answer",
)


def _statement_cells(notice: Notice) -> tuple[object, ...]:
    sor = notice.statement_of_reasons
    last = notice.info_requests[-1] if notice.info_requests else None
    info = (last.question if last else None, last.answer if last else None)
    if sor is None:
        return (None,) * 9 + info
    return (
        ";".join(sor.decision_visibility),
        ";".join(sor.territorial_scope),
        sor.automated_detection,
        sor.automated_decision,
        sor.application_date.isoformat(),
        sor.decision_ground,
        sor.illegal_content_legal_ground or sor.incompatible_content_ground,
        sor.decision_facts,
        ";".join(sor.redress),
    ) + info


def notice_json(row: FeedRow) -> dict[str, Any]:
    data = json.loads(row.notice.model_dump_json())
    data["seq"] = row.seq
    return data


def to_json(rows: list[FeedRow], next_cursor: int, has_more: bool, extra: dict[str, Any] | None = None) -> str:
    return json.dumps(
        {
            "notices": [notice_json(r) for r in rows],
            "next_cursor": str(next_cursor),
            "has_more": has_more,
            **(extra or {}),
        }
    )


def to_ndjson(rows: list[FeedRow]) -> str:
    return "".join(json.dumps(notice_json(r)) + "\n" for r in rows)


def to_csv(rows: list[FeedRow]) -> str:
    out = io.StringIO()
    out.write(csv_line(CSV_COLUMNS))
    for row in rows:
        n, v, t = row.notice, row.notice.verdict, row.notice.target
        out.write(
            csv_line(
                (
                    row.seq,
                    n.id,
                    n.version,
                    n.modified.isoformat(),
                    n.should_delete,
                    n.status,
                    n.feedback,
                    n.platform,
                    t.url,
                    t.canonical_url,
                    t.content_type,
                    t.username,
                    t.profile_url,
                    json.dumps(t.native_ids, sort_keys=True),
                    f"{v.score:.4f}",
                    v.confidence,
                    v.severity,
                    ";".join(sorted(v.substances)),
                    v.explanation,
                    n.law.dsa_category,
                    n.law.dsa_keyword,
                    n.law.legal_ground,
                    n.law.jurisdiction,
                    n.law.trusted_flagger,
                    v.tlp,
                    v.first_seen.isoformat(),
                    v.last_seen.isoformat(),
                    v.expires_at.isoformat(),
                    n.proof.bundle,
                    n.proof.bundle_sha256,
                    *_statement_cells(n),
                )
            )
        )
    return out.getvalue()


def _stix_str(value: str) -> str:
    return value.replace("\\", "\\\\").replace("'", "\\'")


def _tlp(label: str) -> Any:
    label = label.upper().replace("TLP:", "")
    if label.startswith("RED"):
        return stix2.TLP_RED
    if label.startswith("GREEN"):
        return stix2.TLP_GREEN
    if label in ("WHITE", "CLEAR"):
        return stix2.TLP_WHITE
    return stix2.TLP_AMBER  # AMBER and AMBER+STRICT


def stix_uuid4(name: str) -> uuid.UUID:
    """A UUIDv4-form identifier derived from ``name``: SHA-256 over Dragnet's namespace and the
    name, version 4 and RFC 4122 variant bits set (stable across feed pages and versions)."""
    return uuid.UUID(bytes=hashlib.sha256(NAMESPACE.bytes + name.encode("utf-8")).digest()[:16], version=4)


def stix_identity(notifier_name: str) -> Any:
    return stix2.Identity(
        id=f"identity--{stix_uuid4('notifier:' + notifier_name)}",
        name=notifier_name,
        identity_class="organization",
        created=EXTENSION_CREATED,
        modified=EXTENSION_CREATED,
    )


def stix_extension_definition(identity_id: str) -> Any:
    """The property extension holding Dragnet's fields on each indicator (STIX 2.1 §7.3)."""
    return stix2.ExtensionDefinition(
        id=EXTENSION_ID,
        created_by_ref=identity_id,
        created=EXTENSION_CREATED,
        modified=EXTENSION_CREATED,
        name="Dragnet takedown notice",
        description="Dragnet's notice fields on an indicator: the notice id and version, workflow status, "
        "tombstone flag, severity, review, the post URL and the platform's ids of it, the DSA Art. 16 "
        "legal elements (law) and the evidence digests (proof).",
        schema="The properties are those of the Dragnet notice JSON Schema served at /feeds/schema: "
        "notice_id (id), version, status, should_delete, severity and review (verdict), target_url "
        "(target.url), native_ids (target.native_ids), law, proof and, once the platform has given "
        "one, statement_of_reasons, with the same types.",
        version="1.1.0",
        extension_types=["property-extension"],
    )


def stix_indicator(notice: Notice, identity_id: str) -> Any:
    t, v = notice.target, notice.verdict
    clauses = [f"url:value = '{_stix_str(t.url)}'"]
    if t.username:
        clauses.append(f"user-account:account_login = '{_stix_str(t.username)}'")
    pattern = "[" + "] OR [".join(clauses) + "]"
    modified = max(notice.modified, notice.created)
    refs: list[dict[str, Any]] = []
    if t.native_ids:
        refs.append({"source_name": notice.platform, "external_id": next(iter(t.native_ids.values()))})
    if notice.proof.bundle and notice.proof.bundle_sha256:
        refs.append(
            {
                "source_name": "dragnet-evidence-bundle",
                "description": "WACZ evidence bundle: GET /feeds/{platform}/notices/{notice id}/evidence",
                "external_id": notice.proof.bundle,
                "hashes": {"SHA-256": notice.proof.bundle_sha256},
            }
        )
    return stix2.Indicator(
        id=f"indicator--{stix_uuid4(notice.id)}",
        created=notice.created,
        modified=modified,
        created_by_ref=identity_id,
        name=f"Drug-sale {t.content_type} on {notice.platform}",
        description=v.explanation,
        indicator_types=["malicious-activity"],
        pattern=pattern,
        pattern_type="stix",
        valid_from=v.first_seen,
        valid_until=max(v.expires_at, v.first_seen),
        confidence=max(0, min(100, round(v.score * 100))),
        labels=sorted(v.substances) or ["drug-sale"],
        revoked=notice.should_delete,
        object_marking_refs=[_tlp(v.tlp)],
        **({"external_references": refs} if refs else {}),
        extensions={
            EXTENSION_ID: {
                "extension_type": "property-extension",
                "notice_id": notice.id,
                "version": notice.version,
                "status": notice.status,
                "should_delete": notice.should_delete,
                "severity": v.severity,
                "review": v.review,
                "target_url": t.url,
                "native_ids": t.native_ids,
                "law": json.loads(notice.law.model_dump_json()),
                "proof": json.loads(notice.proof.model_dump_json()),
                **(
                    {"statement_of_reasons": json.loads(notice.statement_of_reasons.model_dump_json())}
                    if notice.statement_of_reasons is not None
                    else {}
                ),
            }
        },
    )


def to_stix(rows: list[FeedRow], notifier_name: str) -> str:
    """One STIX 2.1 bundle: the notifier identity, the extension definition, the TLP markings used
    and one indicator per notice."""

    identity = stix_identity(notifier_name)
    objects: list[Any] = [identity, stix_extension_definition(identity.id)]
    markings: dict[str, Any] = {}
    for row in rows:
        marking = _tlp(row.notice.verdict.tlp)
        markings[marking.id] = marking
        objects.append(stix_indicator(row.notice, identity.id))
    bundle = stix2.Bundle(objects=objects + list(markings.values()))
    return bundle.serialize()
