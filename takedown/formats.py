"""Serialise a feed page as JSON, NDJSON, CSV or a STIX 2.1 bundle.

STIX mapping: each notice is an ``indicator`` whose id is derived from the notice id (so a new
version of a notice is a new version of the same STIX object: same id, later ``modified``), with
a STIX pattern over the URL (and the account when known), ``valid_from`` = first seen,
``valid_until`` = expiry, ``confidence`` = score x 100, the TLP marking, and ``revoked: true`` as
the tombstone.  Dragnet's own fields (verdict, law, proof, status) ride along as ``x_dragnet_*``
custom properties, which STIX allows and consumers may ignore.
"""

from __future__ import annotations

import io
import json
import uuid
from typing import Any

import stix2

from dragnet.csvsafe import csv_line
from takedown.notices import Notice
from takedown.store import FeedRow

NAMESPACE = uuid.UUID("5a0c1d1e-4f3c-4bf0-9d7e-6d7261676e65")
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
)


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


def stix_identity(notifier_name: str) -> Any:
    return stix2.Identity(
        id=f"identity--{uuid.uuid5(NAMESPACE, 'notifier:' + notifier_name)}",
        name=notifier_name,
        identity_class="organization",
        created="2026-01-01T00:00:00.000Z",
        modified="2026-01-01T00:00:00.000Z",
    )


def stix_indicator(notice: Notice, identity_id: str) -> Any:
    t, v = notice.target, notice.verdict
    clauses = [f"url:value = '{_stix_str(t.url)}'"]
    if t.username:
        clauses.append(f"user-account:account_login = '{_stix_str(t.username)}'")
    pattern = "[" + "] OR [".join(clauses) + "]"
    modified = max(notice.modified, notice.created)
    return stix2.Indicator(
        id=f"indicator--{uuid.uuid5(NAMESPACE, notice.id)}",
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
        external_references=[
            {
                "source_name": notice.platform,
                "url": t.url,
                **({"external_id": next(iter(t.native_ids.values()))} if t.native_ids else {}),
            }
        ],
        allow_custom=True,
        x_dragnet_notice_id=notice.id,
        x_dragnet_version=notice.version,
        x_dragnet_status=notice.status,
        x_dragnet_should_delete=notice.should_delete,
        x_dragnet_severity=v.severity,
        x_dragnet_review=v.review,
        x_dragnet_native_ids=t.native_ids,
        x_dragnet_law=json.loads(notice.law.model_dump_json()),
        x_dragnet_proof=json.loads(notice.proof.model_dump_json()),
    )


def to_stix(rows: list[FeedRow], notifier_name: str) -> str:
    """One STIX 2.1 bundle: the notifier identity, the TLP markings used and one indicator per
    notice."""

    identity = stix_identity(notifier_name)
    objects: list[Any] = [identity]
    markings: dict[str, Any] = {}
    for row in rows:
        marking = _tlp(row.notice.verdict.tlp)
        markings[marking.id] = marking
        objects.append(stix_indicator(row.notice, identity.id))
    bundle = stix2.Bundle(objects=objects + list(markings.values()), allow_custom=True)
    return bundle.serialize()
