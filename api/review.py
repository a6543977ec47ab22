"""Analysts' takedown work from the UI and the API: notices asked for from listings, and review
decisions taken on many notices at once.

Why a module of its own: the API routes (``/api/notices``, ``/api/review/...``) and the pages
(``/review``) must do exactly the same thing, and every decision must reach the audit log with
its reason, one entry per notice (an auditor asks "who approved this notice", not "what did this
batch do").  The workflow itself stays in :class:`takedown.service.FeedService`: a notice made
here is an ordinary ``new`` notice in the existing review queue (never auto-approved)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from api import audit
from api.auth import Principal
from dragnet.settings import DragnetSettings
from index.store import ListingStore
from takedown.service import FeedService, NotFound, WorkflowError
from takedown.store import ConflictError

Decision = Literal["approve", "reject"]
MAX_BATCH = 200
MAX_REASON = 2_000


class ListingNotices(BaseModel):
    """What asking for notices did for one listing."""

    listing_id: str
    created: list[str] = Field(default_factory=list, description="new notices, pending review")
    existing: list[str] = Field(default_factory=list, description="notices already made for the same verdict")
    refused: str | None = Field(None, description="why no notice could be made")


class DecisionOutcome(BaseModel):
    notice_id: str
    ok: bool
    status: str | None = None
    error: str | None = None


def by_of(principal: Principal) -> str:
    return f"{principal.role}:{principal.name}"


def notices_from_listings(
    service: FeedService,
    store: ListingStore,
    principal: Principal,
    listing_ids: list[str],
    settings: DragnetSettings,
) -> list[ListingNotices]:
    """One notice per platform a listing can be reported to (the post itself, or the accounts it
    names as contacts), each ``new`` and waiting for review."""
    outcomes: list[ListingNotices] = []
    for listing_id in dict.fromkeys(listing_ids):
        listing = store.get(listing_id[:200])
        outcome = ListingNotices(listing_id=listing_id, refused=None)
        if listing is None:
            outcome.refused = "no such listing"
        elif listing.classification is None or not listing.classification.is_drug_sale:
            outcome.refused = "not classified as a drug sale"
        elif not service.targets(listing):
            outcome.refused = "no known platform hosts this listing or its contacts"
        else:
            result = service.ingest([listing], by=by_of(principal), auto_approve=False)
            outcome.created = result.created + result.updated
            outcome.existing = result.duplicates
        audit.record(
            principal,
            "notices.create",
            f"listing={listing_id} created={','.join(outcome.created)} existing={','.join(outcome.existing)}"
            + (f" refused={outcome.refused}" if outcome.refused else ""),
            len(outcome.created),
            settings=settings,
        )
        outcomes.append(outcome)
    return outcomes


def decide(
    service: FeedService,
    principal: Principal,
    notice_ids: list[str],
    decision: Decision,
    reason: str | None,
    settings: DragnetSettings,
) -> list[DecisionOutcome]:
    """Approve or reject each notice; a rejection needs a reason (it is what the platform and the
    model's next training round learn from).  A notice that cannot move (already decided, gone)
    is reported, not fatal: the rest of the batch still goes through."""
    reason = (reason or "").strip()[:MAX_REASON] or None
    if decision == "reject" and not reason:
        raise ValueError("a rejection needs a reason")
    outcomes: list[DecisionOutcome] = []
    for notice_id in dict.fromkeys(notice_ids):
        try:
            notice = service.review(notice_id[:100], decision, by=by_of(principal), note=reason)
            outcome = DecisionOutcome(notice_id=notice_id, ok=True, status=notice.status)
        except NotFound:
            outcome = DecisionOutcome(notice_id=notice_id, ok=False, error="no such notice")
        except (WorkflowError, ConflictError) as exc:
            outcome = DecisionOutcome(notice_id=notice_id, ok=False, error=str(exc))
        audit.record(
            principal,
            f"review.{decision}",
            f"notice={notice_id} reason={reason or ''}" + ("" if outcome.ok else f" [failed: {outcome.error}]"),
            int(outcome.ok),
            settings=settings,
        )
        outcomes.append(outcome)
    return outcomes
