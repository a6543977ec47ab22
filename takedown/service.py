"""The review workflow: hits become notices, analysts decide, platforms answer, re-crawls confirm.

``new`` -> ``approved`` | ``rejected`` (an analyst; or automatically when a platform configures
``auto_approve_score`` and the score reaches it) -> ``sent`` (pulled or pushed) ->
``acknowledged`` | ``need_more_info`` (the platform asks a question; an analyst's answer sends the
notice back as ``sent``) | ``removed`` | ``rejected`` | ``expired``.  Every transition is appended to the
notice's history with its UTC time and who made it.  A notice reaches its platform's feed only
once approved; after that every change the platform has not itself caused bumps its feed
sequence, and a withdrawal or expiry is published as a tombstone (``should_delete``).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from dragnet.documents import Listing, utcnow
from dragnet.settings import DragnetSettings, get_settings
from index.store import SearchQuery
from takedown.evidence import build_bundle, file_sha256
from takedown.notices import (
    FINAL_STATES,
    MAX_INFO_REQUESTS,
    TRANSITIONS,
    Feedback,
    InfoRequest,
    Notice,
    NoticeStatus,
    build_notice,
)
from takedown.recrawl import RecrawlResult, recrawl
from takedown.registry import PlatformMatch, PlatformRegistry, load_registry
from takedown.statement import StatementOfReasons
from takedown.store import ConflictError, NoticeStore, open_notice_store
from takedown.telemetry import count

if TYPE_CHECKING:
    from index.store import ListingStore

log = logging.getLogger(__name__)


class WorkflowError(ValueError):
    """A transition the workflow does not allow (the API answers 409)."""


class NotFound(KeyError):
    """No such notice (on this platform)."""


@dataclass
class IngestResult:
    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    duplicates: list[str] = field(default_factory=list)
    auto_approved: list[str] = field(default_factory=list)
    skipped: int = 0


class FeedService:
    """The workflow over a :class:`NoticeStore`; stateless apart from the store."""

    def __init__(
        self,
        settings: DragnetSettings | None = None,
        store: NoticeStore | None = None,
        registry: PlatformRegistry | None = None,
    ) -> None:
        self.settings = settings or get_settings()
        self.store = store or open_notice_store(self.settings)
        self._registry = registry
        load_registry(self.settings)  # fail at start, not at the first hit, on a broken registry file

    @property
    def registry(self) -> PlatformRegistry:
        """The injected registry, else the configured file (re-read when it changes on disk, so a
        new platform or a new reporting channel needs no restart)."""
        return self._registry or load_registry(self.settings)

    # -- hits in ---------------------------------------------------------------------------
    def targets(self, listing: Listing) -> list[PlatformMatch]:
        """Where a hit can be reported: the post itself when it sits on a known platform, and the
        accounts it names as contacts on known platforms (a market listing's "telegram: @plug")."""
        found: dict[str, PlatformMatch] = {}
        match = self.registry.match(listing.url)
        if match is not None:
            found[match.target_key] = match
        for contact in listing.contacts:
            m = self.registry.match_contact(contact)
            if m is not None and m.target_key not in found:
                found[m.target_key] = m
        return list(found.values())

    def ingest(
        self, listings: list[Listing], *, bundles: bool = True, by: str = "dragnet", auto_approve: bool = True
    ) -> IngestResult:
        """Turn classified hits into notices: new ones wait for review (or are auto-approved), the
        same target with the same verdict is a duplicate (only ``last_seen`` moves), a changed
        verdict is a new version of the same notice.  ``auto_approve=False``: every new notice
        waits for review whatever the platform's ``auto_approve_score`` (an analyst asked for it
        from a listing and means it to be reviewed like any other)."""
        result = IngestResult()
        for listing in listings:
            c = listing.classification
            if c is None or not c.is_drug_sale:
                result.skipped += 1
                continue
            targets = self.targets(listing)
            if not targets:
                result.skipped += 1
                continue
            bundle_path = None
            bundle_sha: str | None = None
            for match in targets:
                spec = self.registry.get(match.platform)
                assert spec is not None
                notice = build_notice(listing, match, spec, self.settings)
                existing = self.store.get(notice.id)
                # Same target, same verdict: a duplicate - unless the post was removed or the notice
                # expired, in which case it is back and goes to review again.  A notice an analyst
                # withdrew or a platform declined stays closed until the verdict itself changes.
                if (
                    existing is not None
                    and existing.dedup_key == notice.dedup_key
                    and existing.status not in ("removed", "expired")
                ):
                    last = listing.last_seen or listing.crawled_at
                    if last > existing.verdict.last_seen:
                        existing.verdict.last_seen = last
                        try:  # same report: the platform must not see it again
                            self.store.save(existing, bump=False, expect_version=existing.version)
                        except ConflictError:
                            pass  # someone moved the notice on meanwhile; last_seen can wait for the next hit
                    result.duplicates.append(existing.id)
                    count("notices", platform=match.platform, outcome="duplicate")
                    continue
                if bundles and bundle_path is None:
                    bundle_path = build_bundle(listing, settings=self.settings)
                    bundle_sha = file_sha256(bundle_path)
                if bundle_path is not None:
                    notice.proof.bundle = bundle_path.name
                    notice.proof.bundle_sha256 = bundle_sha
                visible = None
                if existing is not None:
                    notice.created = existing.created
                    notice.version = existing.version + 1
                    notice.history = existing.history + [
                        notice.entry(
                            "new",
                            by,
                            "verdict changed"
                            if existing.status not in ("removed", "expired")
                            else f"seen again after {existing.status}",
                        )
                    ]
                    notice.verdict.first_seen = min(existing.verdict.first_seen, notice.verdict.first_seen)
                    result.updated.append(notice.id)
                    count("notices", platform=match.platform, outcome="updated")
                else:
                    notice.history = [notice.entry("new", by)]
                    result.created.append(notice.id)
                    count("notices", platform=match.platform, outcome="created")
                if (
                    auto_approve
                    and spec.auto_approve_score is not None
                    and notice.verdict.score >= spec.auto_approve_score
                ):
                    notice.status = "approved"
                    notice.verdict.review = "automated"
                    notice.verdict.review_status = "approved"
                    notice.history.append(notice.entry("approved", f"auto:score>={spec.auto_approve_score:g}"))
                    visible = True
                    result.auto_approved.append(notice.id)
                    count("notices", platform=match.platform, outcome="auto_approved")
                self.store.save(
                    notice, visible=visible, expect_version=existing.version if existing is not None else None
                )
        return result

    # -- transitions -----------------------------------------------------------------------
    def get(self, notice_id: str, platform: str | None = None) -> Notice:
        notice = self.store.get(notice_id)
        if notice is None or (platform is not None and notice.platform != platform):
            raise NotFound(notice_id)
        return notice

    def _transition(
        self,
        notice: Notice,
        status: NoticeStatus,
        by: str,
        note: str | None = None,
        at: datetime | None = None,
        statement: StatementOfReasons | None = None,
    ) -> None:
        if status not in TRANSITIONS[notice.status]:
            allowed = ", ".join(sorted(TRANSITIONS[notice.status])) or "nothing (final)"
            raise WorkflowError(f"notice {notice.id} is {notice.status}; cannot become {status} (allowed: {allowed})")
        notice.status = status
        event = notice.entry(status, by, note, at, statement)
        notice.history.append(event)
        notice.modified = event.at
        notice.version += 1
        count("transitions", platform=notice.platform, status=status)

    def review_queue(self, platform: str | None = None, limit: int = 100, offset: int = 0) -> list[Notice]:
        """New notices awaiting an analyst, the least certain first: the closer a verdict's
        score to its threshold, the more an analyst's decision teaches the model (uncertainty
        sampling; the decisions come back as training examples through
        :mod:`takedown.feedback`).  Ties: the oldest first."""
        pending = [notice for notice in self.store.all(platform) if notice.status == "new"]
        pending.sort(key=lambda n: (abs(n.verdict.score - n.verdict.threshold), n.created))
        return pending[offset : offset + limit]

    def review(self, notice_id: str, decision: str, by: str, note: str | None = None) -> Notice:
        """An analyst approves or rejects a new notice."""
        notice = self.get(notice_id)
        v0 = notice.version
        if decision not in ("approve", "reject"):
            raise WorkflowError("decision must be approve or reject")
        status: NoticeStatus = "approved" if decision == "approve" else "rejected"
        was_visible = notice.status != "new"
        self._transition(notice, status, by, note)
        notice.verdict.review = "manual"
        notice.verdict.review_status = "approved" if status == "approved" else "rejected"
        if status == "rejected" and was_visible:
            notice.should_delete = True  # withdrawn after release: the platform gets a tombstone
        self.store.save(notice, visible=True if status == "approved" else None, expect_version=v0)
        return notice

    def mark_sent(self, notice: Notice, by: str, *, bump: bool) -> Notice:
        fresh = self.store.get(notice.id)  # the page may be older than the notice
        if fresh is not None and fresh.status == "approved":
            v0 = fresh.version
            self._transition(fresh, "sent", by)
            try:
                self.store.save(fresh, bump=bump, expect_version=v0)
                return fresh
            except ConflictError:
                pass
        return fresh or notice

    def feedback(
        self,
        notice_id: str,
        platform: str,
        kind: Feedback,
        by: str,
        note: str | None = None,
        *,
        statement: StatementOfReasons | None = None,
        question: str | None = None,
    ) -> Notice:
        """What the platform says about a notice it received.  ``platform`` must own it.
        ``statement``: its statement of reasons (DSA Art. 17), kept on the notice and in the
        history.  ``need_more_info`` needs a ``question``; the notice waits for an analyst's
        answer (:meth:`answer_info_request`)."""
        notice = self.get(notice_id, platform=platform)
        if notice.time_of("approved") is None:
            raise NotFound(notice_id)  # never released: the platform cannot know it exists
        v0 = notice.version
        if notice.status == "new":
            raise WorkflowError(f"notice {notice.id} is back in review")
        if kind == "need_more_info":
            if not question or not question.strip():
                raise WorkflowError("need_more_info needs a question")
            if statement is not None:
                raise WorkflowError("a statement of reasons comes with a decision, not with a question")
            if len(notice.info_requests) >= MAX_INFO_REQUESTS:
                raise WorkflowError(f"notice {notice.id} has had {MAX_INFO_REQUESTS} questions already")
        elif question is not None:
            raise WorkflowError("a question comes only with need_more_info")
        if notice.status == "approved" and kind != "disputed":
            # the platform answers before our send was recorded (pulled and acted at once)
            self._transition(notice, "sent", f"pull:{platform}")
        notice.feedback = kind
        if statement is not None:
            notice.statement_of_reasons = statement
        target: NoticeStatus | None = {
            "true_positive": "acknowledged",
            "false_positive": "rejected",
            "removed": "removed",
            "disputed": None,
            "need_more_info": "need_more_info",
        }[kind]
        text = question.strip() if kind == "need_more_info" and question else note
        text = text or f"platform feedback: {kind}"
        if target is not None and target != notice.status:
            if notice.status in FINAL_STATES:
                raise WorkflowError(f"notice {notice.id} is already {notice.status}")
            self._transition(notice, target, by, text, statement=statement)
        elif kind == "need_more_info":
            raise WorkflowError(f"notice {notice.id} already waits for an answer to a question")
        else:
            notice.history.append(notice.entry(notice.status, by, text, statement=statement))
            notice.modified = utcnow()
            notice.version += 1
        if kind == "need_more_info":
            notice.info_requests.append(InfoRequest(question=text, asked_at=notice.modified, asked_by=by))
        # The platform caused this change; it does not need to be told about it again.
        self.store.save(notice, bump=False, expect_version=v0)
        return notice

    def answer_info_request(self, notice_id: str, answer: str, by: str) -> Notice:
        """An analyst answers the platform's open question: the answer is stored with it, the
        notice goes back to ``sent`` and its feed sequence is bumped, so the platform receives it
        again (pull and webhook) with the answer in ``info_requests``."""
        notice = self.get(notice_id)
        v0 = notice.version
        request = notice.open_info_request()
        if notice.status != "need_more_info" or request is None:
            raise WorkflowError(
                f"notice {notice.id} is {notice.status}; no question of the platform waits for an answer"
            )
        answer = answer.strip()
        if not answer:
            raise WorkflowError("the answer is empty")
        self._transition(notice, "sent", by, answer)
        request.answer = answer
        request.answered_at = notice.modified
        request.answered_by = by
        notice.feedback = None  # the platform has not decided yet
        self.store.save(notice, bump=True, expect_version=v0)
        return notice

    def withdraw(self, notice_id: str, by: str, reason: str) -> Notice:
        """Take back a released notice (an analyst found it wrong): a tombstone in the feed."""
        notice = self.get(notice_id)
        v0 = notice.version
        if notice.status not in FINAL_STATES:
            self._transition(notice, "rejected", by, reason)
        notice.should_delete = True
        notice.version += 1
        notice.modified = utcnow()
        self.store.save(notice, expect_version=v0)
        return notice

    def expire_due(self, now: datetime | None = None, by: str = "dragnet:expiry") -> int:
        """Notices past their expiry that no one closed become ``expired`` tombstones."""
        now = now or utcnow()
        count = 0
        for notice in list(self.store.all()):
            if notice.status in FINAL_STATES or notice.verdict.expires_at > now:
                continue
            v0 = notice.version
            self._transition(notice, "expired", by, at=now)
            notice.should_delete = True
            try:
                self.store.save(notice, expect_version=v0)
                count += 1
            except ConflictError:
                continue  # changed meanwhile; the next run looks again
        return count

    def confirm_removals(
        self, platform: str | None = None, by: str = "recrawl", force: bool = False
    ) -> list[tuple[str, RecrawlResult]]:
        """Re-crawl sent or acknowledged notices (each at most every ``feeds.recheck_interval_s``
        unless ``force``); a post found gone becomes ``removed``."""

        results: list[tuple[str, RecrawlResult]] = []
        last = {} if force else self.store.last_rechecks()
        horizon = time.time() - self.settings.feeds.recheck_interval_s
        for notice in list(self.store.all(platform)):
            if notice.status not in ("sent", "acknowledged", "need_more_info"):
                continue
            if last.get(notice.id, 0.0) > horizon:
                continue
            outcome = recrawl(notice.target.url, self.settings)
            self.store.record_recheck(notice.id, outcome.outcome, outcome.reason)
            count("recrawls", platform=notice.platform, outcome=outcome.outcome)
            results.append((notice.id, outcome))
            if outcome.outcome == "gone":
                v0 = notice.version
                self._transition(notice, "removed", by, f"re-crawl: {outcome.reason}")
                try:  # new information for the platform: its own removal, confirmed
                    self.store.save(notice, expect_version=v0)
                except ConflictError:
                    continue  # the platform answered meanwhile; its answer stands
        return results

    # -- rate limit ------------------------------------------------------------------------
    def quota_left(self, platform: str, now: datetime | None = None) -> int:
        """How many first-time notices the platform may still receive this hour."""
        spec = self.registry.get(platform)
        limit = (
            spec.max_notices_per_hour
            if spec and spec.max_notices_per_hour
            else self.settings.feeds.max_notices_per_hour
        )
        now = now or utcnow()
        return max(0, limit - self.store.count_sent_since(platform, now - timedelta(hours=1)))


def notify_hits(listings: list[Listing], settings: DragnetSettings | None = None) -> IngestResult:
    """Entry point for the pipeline (e.g. after the index step): classified hits in, notices out.
    Non-hits and hits on no known platform are skipped; safe to call twice with the same hits."""
    return FeedService(settings).ingest(listings)


def ingest_from_store(
    service: FeedService,
    store: ListingStore,
    *,
    min_score: float | None = None,
    limit: int = 10_000,
    page_size: int = 500,
) -> IngestResult:
    """Build notices from the drug-sale hits already in the listing store (newest first, paged
    with ``search_after`` so that any number of hits is walked once)."""

    total = IngestResult()
    after = None
    seen = 0
    while seen < limit:
        query = SearchQuery(
            is_drug_sale=True,
            min_score=min_score,
            size=min(page_size, limit - seen),
            sort="newest",
            facets=False,
            highlight=False,
            search_after=after,
        )
        result = store.search(query)
        if not result.hits:
            break
        seen += len(result.hits)
        part = service.ingest([hit.listing for hit in result.hits])
        total.created += part.created
        total.updated += part.updated
        total.duplicates += part.duplicates
        total.auto_approved += part.auto_approved
        total.skipped += part.skipped
        after = result.next_search_after
        if after is None:
            break
    return total


def recheck_due(settings: DragnetSettings | None = None) -> int:
    """Beat entry for the workers: re-crawl the notices whose re-check is due and expire old ones;
    returns how many were found removed."""
    service = FeedService(settings)
    removed = sum(1 for _, r in service.confirm_removals() if r.outcome == "gone")
    service.expire_due()
    return removed
