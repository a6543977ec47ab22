"""Decisions about notices as labelled training posts: what analysts approved or rejected in
review and what platforms answered (removed, true or false positive) become examples for the
next model (``dragnet train --with-feedback``).

A notice counts once, by its listing; a notice whose answers disagree (an analyst approved it,
the platform called it a false positive) or that is only disputed teaches nothing and is left
out.  The post text comes from the listing store, as the classifier read it.  The classifier
keeps these posts out of its frozen evaluation set (``classifier.corpus``)."""

from __future__ import annotations

import logging

from classifier.corpus import LANGS, CorpusPost
from dragnet.settings import DragnetSettings, get_settings
from index.factory import open_store
from index.store import ListingStore
from takedown.notices import Notice
from takedown.store import NoticeStore, open_notice_store

log = logging.getLogger(__name__)

POSITIVE = {"approved", "true_positive", "removed", "acknowledged"}
NEGATIVE = {"rejected", "false_positive"}


def decisions(notice: Notice) -> set[str]:
    """What people said of a notice: the analyst's review and the platform's answers."""
    said = {str(notice.verdict.review_status)} & {"approved", "rejected"}
    if notice.feedback is not None:
        said.add(notice.feedback)
    said |= {entry.status for entry in notice.history if entry.status in {"removed", "acknowledged"}}
    return said


def label_of(notice: Notice) -> int | None:
    """1: a drug sale by people's judgement, 0: not one, None: undecided or contradictory."""
    said = decisions(notice)
    positive, negative = bool(said & POSITIVE), bool(said & NEGATIVE)
    if positive == negative:
        return None
    return 1 if positive else 0


def feedback_posts(settings: DragnetSettings | None = None) -> list[CorpusPost]:
    """Every decided notice as a labelled post (one per listing)."""
    settings = settings or get_settings()
    notices = open_notice_store(settings)
    with open_store(settings) as listings:
        return collect(notices, listings)


def collect(notices: NoticeStore, listings: ListingStore) -> list[CorpusPost]:
    posts: dict[str, CorpusPost] = {}
    contradictory = 0
    for notice in notices.all():
        label = label_of(notice)
        if label is None:
            contradictory += bool(decisions(notice))
            continue
        listing_id = notice.target.listing_id
        listing = listings.get(listing_id)
        if listing is None or listing_id in posts:
            continue
        text = "\n".join(part for part in (listing.title, listing.text) if part)
        posts[listing_id] = CorpusPost(
            id=f"feedback-{listing_id}",
            text=text,
            sale=label,
            intent="sell" if label else "other",
            substances=tuple(notice.verdict.substances) if label else (),
            lang=listing.lang if listing.lang in LANGS else "en",
            platform=notice.target.content_type,
            kind="feedback:" + "/".join(sorted(decisions(notice))),
            hard=False,
            author="feedback",
        )
    if contradictory:
        log.info("%d notice(s) with contradictory decisions left out of the feedback", contradictory)
    return list(posts.values())
