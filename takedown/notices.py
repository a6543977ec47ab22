"""The notice: what a platform receives about one hit.

Its shape follows the signal-sharing systems platforms already run: ThreatExchange (a stable id, a
version, created/modified times, ``should_delete`` tombstones, typed indicators, review status,
severity, TLP) and STIX 2.1 (indicators with a pattern; see :mod:`takedown.formats`), and it
carries the four elements of a valid notice under DSA Art. 16(2) and the statement-of-reasons
category, so that a platform can act on it without asking back.
"""

from __future__ import annotations

import hashlib
import re
from datetime import datetime, timedelta
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from dragnet.documents import Evidence, Intent, Listing, TakedownStatus, utcnow
from dragnet.settings import DragnetSettings
from takedown.registry import PlatformMatch, PlatformSpec
from takedown.statement import StatementOfReasons

NoticeStatus = TakedownStatus
Feedback = Literal["true_positive", "false_positive", "disputed", "removed", "need_more_info"]
# Version of the served notice schema (GET /feeds/schema): 2 added the platform's statement of
# reasons (DSA Art. 17), the ``need_more_info`` status and the information requests.
NOTICE_SCHEMA_VERSION = 2
FINAL_STATES: frozenset[str] = frozenset({"removed", "rejected", "expired"})

# Which transitions the workflow allows; anything else is refused (409 at the API).
TRANSITIONS: dict[str, frozenset[str]] = {
    "new": frozenset({"approved", "rejected", "expired"}),
    "approved": frozenset({"sent", "rejected", "expired"}),
    "sent": frozenset({"acknowledged", "need_more_info", "removed", "rejected", "expired"}),
    "acknowledged": frozenset({"need_more_info", "removed", "rejected", "expired"}),
    # the platform asked a question; an analyst's answer sends the notice back to it ("sent"),
    # and the platform may still decide without waiting for the answer
    "need_more_info": frozenset({"sent", "acknowledged", "removed", "rejected", "expired"}),
    "removed": frozenset(),
    "rejected": frozenset(),
    "expired": frozenset(),
}
MAX_TEXT_INDICATOR = 500
MAX_SPANS = 25
MAX_SPAN_CHARS = 200
MAX_QUESTION_CHARS = 4000
MAX_INFO_REQUESTS = 20

Severity = Literal["info", "low", "medium", "high", "critical"]
_SEVERITY_BY_SUBSTANCE: dict[str, Severity] = {
    "opioids": "critical",
    "benzodiazepines": "high",
    "stimulants": "high",
    "other_rx": "high",
    "dissociatives": "medium",
    "psychedelics": "medium",
    "cannabis": "low",
}
_SEVERITY_ORDER = ["info", "low", "medium", "high", "critical"]


class _M(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Indicator(_M):
    type: Literal["url", "username", "text", "media_hash", "crypto_address", "contact", "pgp_fingerprint"]
    value: str


class Target(_M):
    url: str
    canonical_url: str
    platform: str
    native_ids: dict[str, str] = Field(default_factory=dict)
    username: str | None = None
    profile_url: str | None = None
    content_type: str = "page"
    source_kind: str | None = None
    listing_id: str


class Verdict(_M):
    is_drug_sale: bool
    score: float
    threshold: float
    substances: dict[str, float] = Field(default_factory=dict)
    intent: Intent | None = None  # "sell" for a sale; None from models without an intent head
    evidence: list[Evidence] = Field(default_factory=list)
    explanation: str
    confidence: Literal["high", "medium", "low"]
    review: Literal["automated", "manual"] = "automated"
    review_status: Literal["pending", "approved", "rejected"] = "pending"
    severity: Severity
    tlp: str
    model_version: str
    first_seen: datetime
    last_seen: datetime
    expires_at: datetime


class Art16Elements(_M):
    """DSA Art. 16(2): (a) substantiated explanation, (b) exact electronic location, (c) notifier
    name and email, (d) good-faith statement."""

    explanation: str
    exact_location: list[str]
    notifier_name: str
    notifier_email: str
    good_faith_statement: str


class Law(_M):
    dsa_category: str
    dsa_keyword: str
    decision_ground: str = "DECISION_GROUND_ILLEGAL_CONTENT"
    legal_ground: str
    jurisdiction: str
    art16: Art16Elements
    trusted_flagger: bool


class Proof(_M):
    content_sha256: str
    bundle: str | None = None
    bundle_sha256: str | None = None
    snapshot: str | None = None
    screenshot_sha256: str | None = None


class HistoryEntry(_M):
    status: str
    at: datetime
    by: str
    note: str | None = None
    statement_of_reasons: StatementOfReasons | None = Field(
        default=None, description="The platform's statement of reasons given with this answer (DSA Art. 17)."
    )


class InfoRequest(_M):
    """A platform's "need more information" and the analyst's answer to it."""

    question: str = Field(max_length=MAX_QUESTION_CHARS)
    asked_at: datetime
    asked_by: str
    answer: str | None = Field(default=None, max_length=MAX_QUESTION_CHARS)
    answered_at: datetime | None = None
    answered_by: str | None = None


class Notice(_M):
    id: str
    version: int = 1
    created: datetime
    modified: datetime
    should_delete: bool = False
    platform: str
    status: NoticeStatus = "new"
    feedback: Feedback | None = None
    statement_of_reasons: StatementOfReasons | None = Field(
        default=None, description="The platform's latest statement of reasons about the notified content (DSA Art. 17)."
    )
    info_requests: list[InfoRequest] = Field(
        default_factory=list,
        max_length=MAX_INFO_REQUESTS,
        description="The platform's requests for more information and the answers, oldest first.",
    )
    reporting_channel: dict[str, str | None] = Field(default_factory=dict)
    target: Target
    indicators: list[Indicator] = Field(default_factory=list)
    verdict: Verdict
    law: Law
    proof: Proof
    history: list[HistoryEntry] = Field(default_factory=list)
    dedup_key: str

    def entry(
        self,
        status: str,
        by: str,
        note: str | None = None,
        at: datetime | None = None,
        statement: StatementOfReasons | None = None,
    ) -> HistoryEntry:
        return HistoryEntry(status=status, at=at or utcnow(), by=by, note=note, statement_of_reasons=statement)

    def open_info_request(self) -> InfoRequest | None:
        """The platform's question still waiting for an answer, if any."""
        last = self.info_requests[-1] if self.info_requests else None
        return last if last is not None and last.answer is None else None

    def time_of(self, status: str) -> datetime | None:
        for event in self.history:
            if event.status == status:
                return event.at
        return None


class ServedNotice(Notice):
    """A notice as the feed serves it (JSON pages, NDJSON lines, the notice endpoints): the notice
    plus its feed sequence number.  ``/feeds/schema`` publishes this model's schema, so what is
    served validates as served.  Webhook payloads carry ``seq`` in the envelope and a plain
    notice, which validates too (``seq`` is optional)."""

    model_config = ConfigDict(extra="forbid", title="Notice")

    seq: int = Field(
        default=0,
        ge=0,
        description="Feed sequence number of this version of the notice (the feed's cursor order); "
        "0 where the notice is shown outside the feed (analyst and single-notice views).",
    )


def served_notice_schema() -> dict[str, object]:
    """JSON Schema (draft 2020-12) of a served notice."""
    schema = ServedNotice.model_json_schema()
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$comment": f"Dragnet notice schema version {NOTICE_SCHEMA_VERSION}",
        "x-schema-version": NOTICE_SCHEMA_VERSION,
        **schema,
    }


def notice_id(platform: str, target_key: str) -> str:
    """Stable id: the same target on the same platform is always the same notice."""
    digest = hashlib.sha256(f"{platform}\x00{target_key}".encode()).hexdigest()
    return f"dn-{digest[:24]}"


def verdict_key(listing: Listing) -> str:
    """Two hits with the same key say the same thing: same decision, same substances above the
    threshold.  A changed score alone is not a new verdict (platforms would see noise)."""
    c = listing.classification
    if c is None:
        return "none"
    names = sorted(n for n, s in c.substances.items() if s >= c.threshold) or sorted(c.substances)[:1]
    return f"{int(c.is_drug_sale)}:{','.join(names)}"


def explain(listing: Listing) -> str:
    """A plain-language explanation built from the evidence, for a reviewer and the platform."""
    c = listing.classification
    assert c is not None
    parts: list[str] = []
    top = sorted(((s, n) for n, s in c.substances.items()), reverse=True)[:3]
    if top:
        parts.append("substances: " + ", ".join(f"{n} ({s:.2f})" for s, n in top))
    by_kind: dict[str, list[str]] = {}
    for ev in c.evidence:
        snippet = re.sub(r"\s+", " ", ev.text).strip()[:60]
        if snippet and snippet not in by_kind.setdefault(ev.kind, []):
            by_kind[ev.kind].append(snippet)
    for kind, texts in sorted(by_kind.items()):
        parts.append(f"{kind}: " + ", ".join(f'"{t}"' for t in texts[:4]))
    if listing.price:
        parts.append(f"price: {listing.price.amount:g} {listing.price.currency}")
    if listing.contacts:
        parts.append("off-platform contact: " + ", ".join(f"{x.kind} {x.handle}" for x in listing.contacts[:3]))
    head = (
        f"The post offers controlled drugs for sale (model score {c.score:.2f}, threshold "
        f"{c.threshold:.2f}, model {c.model_version})."
    )
    if c.explanation:
        head += " " + re.sub(r"\s+", " ", c.explanation).strip()[:400]
    return head + (" Evidence - " + "; ".join(parts) + "." if parts else "")


def _confidence(score: float, threshold: float) -> Literal["high", "medium", "low"]:
    margin = score - threshold
    if score >= 0.9 and margin >= 0.2:
        return "high"
    if margin >= 0.05:
        return "medium"
    return "low"


def _severity(substances: dict[str, float], threshold: float) -> Severity:
    level: Severity = "info"
    for name, score in substances.items():
        if score >= threshold:
            candidate = _SEVERITY_BY_SUBSTANCE.get(name, "medium")
            if _SEVERITY_ORDER.index(candidate) > _SEVERITY_ORDER.index(level):
                level = candidate
    return level if level != "info" else "medium"  # a drug sale without a named substance


def build_notice(
    listing: Listing,
    match: PlatformMatch,
    spec: PlatformSpec,
    settings: DragnetSettings,
    *,
    bundle: str | None = None,
    bundle_sha256: str | None = None,
) -> Notice:
    """A version-1 notice for one hit.  The caller (the service) merges it with what is stored."""
    c = listing.classification
    if c is None:
        raise ValueError(f"listing {listing.id} has no classification")
    now = utcnow()
    first = listing.first_seen or listing.crawled_at
    last = listing.last_seen or listing.crawled_at
    f = settings.feeds
    explanation = explain(listing)
    indicators: list[Indicator] = [Indicator(type="url", value=match.url)]
    if match.canonical_url != match.url:
        indicators.append(Indicator(type="url", value=match.canonical_url))
    if match.username:
        indicators.append(Indicator(type="username", value=match.username))
    body = (listing.title + "\n" + listing.text).strip()
    if body and match.content_type != "profile":
        indicators.append(Indicator(type="text", value=body[:MAX_TEXT_INDICATOR]))
    for h in listing.images[:10]:
        indicators.append(Indicator(type="media_hash", value=h))
    if listing.screenshot_sha256:
        indicators.append(Indicator(type="media_hash", value=f"sha256:{listing.screenshot_sha256}"))
    for addr in listing.crypto[:10]:
        indicators.append(Indicator(type="crypto_address", value=f"{addr.chain}:{addr.address}"))
    for contact in listing.contacts[:10]:
        indicators.append(Indicator(type="contact", value=f"{contact.kind}:{contact.handle}"))
    for fp in listing.pgp_fingerprints[:5]:
        indicators.append(Indicator(type="pgp_fingerprint", value=fp))
    location = [match.url] + ([match.canonical_url] if match.canonical_url != match.url else [])
    if match.content_type == "profile" and listing.url not in location:
        explanation = (
            f"The account {match.username} is advertised as the contact of a drug-sale listing at "
            f"{listing.url}. " + explanation
        )
    target_key = match.target_key
    return Notice(
        id=notice_id(match.platform, target_key),
        created=now,
        modified=now,
        platform=match.platform,
        reporting_channel=spec.reporting.model_dump(),
        target=Target(
            url=match.url,
            canonical_url=match.canonical_url,
            platform=match.platform,
            native_ids=match.native_ids,
            username=match.username,
            profile_url=match.profile_url,
            content_type=match.content_type,
            source_kind=listing.source_kind,
            listing_id=listing.id,
        ),
        indicators=indicators,
        verdict=Verdict(
            is_drug_sale=c.is_drug_sale,
            score=c.score,
            threshold=c.threshold,
            substances=c.substances,
            intent=c.intent,
            explanation=explanation,
            evidence=[e.model_copy(update={"text": e.text[:MAX_SPAN_CHARS]}) for e in c.evidence[:MAX_SPANS]],
            confidence=_confidence(c.score, c.threshold),
            severity=_severity(c.substances, c.threshold),
            tlp=f.tlp,
            model_version=c.model_version,
            first_seen=first,
            last_seen=last,
            expires_at=now + timedelta(days=f.notice_ttl_days),
        ),
        law=Law(
            dsa_category=f.dsa_category,
            dsa_keyword=f.dsa_keyword,
            legal_ground=f.legal_ground,
            jurisdiction=f.jurisdiction,
            trusted_flagger=f.trusted_flagger,
            art16=Art16Elements(
                explanation=explanation,
                exact_location=location,
                notifier_name=f.notifier_name,
                notifier_email=f.notifier_email,
                good_faith_statement=(
                    "I have a bona fide belief that the information and allegations "
                    "contained in this notice are accurate and complete."
                ),
            ),
        ),
        proof=Proof(
            content_sha256=listing.content_sha256,
            bundle=bundle,
            bundle_sha256=bundle_sha256,
            snapshot=f"{listing.snapshot.warc_file}#{listing.snapshot.record_id}" if listing.snapshot else None,
            screenshot_sha256=listing.screenshot_sha256,
        ),
        history=[HistoryEntry(status="new", at=now, by="dragnet")],
        dedup_key=f"{target_key}|{verdict_key(listing)}",
    )


def render_letter(notice: Notice) -> str:
    """The notice as a plain-text DSA Art. 16 notice, for platforms whose door is a web form or an
    e-mail address: an analyst pastes or sends it as is.  Plain text only (the values are data, and
    a form or mail client must not render them as markup)."""
    t, v, law = notice.target, notice.verdict, notice.law
    channel = notice.reporting_channel
    door = channel.get("url") or channel.get("email") or ""
    lines = [
        "Notice of illegal content under Article 16 of Regulation (EU) 2022/2065 (Digital Services Act)",
        f"Reference: {notice.id} (version {notice.version}); reporting channel: {channel.get('kind')} {door}".rstrip(),
        "",
        "1. Exact electronic location of the information (Art. 16(2)(b))",
        *[f"   - {loc}" for loc in law.art16.exact_location],
        *(
            ["   Native identifiers: " + ", ".join(f"{k}={val}" for k, val in sorted(t.native_ids.items()))]
            if t.native_ids
            else []
        ),
        *([f"   Account: {t.username}" + (f" ({t.profile_url})" if t.profile_url else "")] if t.username else []),
        "",
        "2. Why the information is illegal content (Art. 16(2)(a))",
        f"   {law.art16.explanation}",
        f"   Category: {law.dsa_category} / {law.dsa_keyword}; legal ground: {law.legal_ground}; "
        f"jurisdiction: {law.jurisdiction}.",
        f"   First seen {v.first_seen.isoformat()}, last seen {v.last_seen.isoformat()}; severity {v.severity}; "
        f"review: {v.review}.",
        f"   Evidence bundle: {notice.proof.bundle or 'none'} (SHA-256 {notice.proof.bundle_sha256 or '-'}); "
        f"content SHA-256 {notice.proof.content_sha256}.",
        "",
        "3. Notifier (Art. 16(2)(c))",
        f"   {law.art16.notifier_name} <{law.art16.notifier_email}>"
        + (" - trusted flagger under Art. 22" if law.trusted_flagger else ""),
        "",
        "4. Statement (Art. 16(2)(d))",
        f"   {law.art16.good_faith_statement}",
        "",
        f"Information sharing: {v.tlp}.",
    ]
    return "\n".join(line.replace("\r", " ") for line in lines) + "\n"
