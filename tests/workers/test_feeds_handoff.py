"""Indexed hits become takedown notices: embedded mode builds them right after the index write,
the distributed path hands them to the ``feeds`` queue."""

from __future__ import annotations

from pathlib import Path

import pytest

from classifier.model_store import ensure_default_model
from dragnet.documents import Listing
from dragnet.settings import DragnetSettings
from takedown.service import FeedService
from workers.submit import close_embedded_stores, submit_batch


@pytest.fixture
def model() -> Path:
    return ensure_default_model()


def test_embedded_hits_on_a_platform_become_notices(settings: DragnetSettings, model: Path) -> None:
    offer = Listing.new(
        "https://t.me/plugdirect42/1337",
        source_kind="channel",
        platform="telegram",
        text="Selling pressed M30 fentanyl pills, 100 for $900. Xanax bars and coke too. "
        "DM on telegram @plugdirect42, discreet shipping worldwide, escrow ok",
    )
    news = Listing.new(
        "https://t.me/citynews/99",
        source_kind="channel",
        platform="telegram",
        text="City council approves new bike lanes downtown; construction starts in March.",
    )
    submit_batch([offer, news])
    close_embedded_stores()
    notices = FeedService(settings).store.list(platform="telegram")
    targets = {notice.target.url for notice in notices}
    assert "https://t.me/plugdirect42/1337" in targets
    assert not any("citynews" in url for url in targets)
    # A re-crawl of the same hit is absorbed by the feeds' dedup, not reported twice.
    submit_batch([offer])
    close_embedded_stores()
    again = FeedService(settings).store.list(platform="telegram")
    assert len([n for n in again if n.target.url == offer.url]) == 1
