"""The feedback loop: decisions on notices become labelled training posts (never evaluation
posts), and the review queue puts the least certain verdicts first."""

from __future__ import annotations

from classifier.corpus import evaluation_posts
from classifier.data import QUICK_PLAN, build_datasets
from dragnet.settings import DragnetSettings
from index.factory import open_store
from takedown.feedback import collect, label_of
from takedown.service import FeedService
from takedown.store import open_notice_store
from tests.takedown.helpers import make_hit


def _ingest(settings: DragnetSettings, hits: dict[str, tuple[str, float]]) -> dict[str, str]:
    """Hits stored in the listing store and turned into notices; returns post key -> the id of
    its notice on the fake platform (a contact in a post makes notices on other platforms too)."""
    listings = {
        key: make_hit(f"https://fakegram.test/p/{key}", text, score=score) for key, (text, score) in hits.items()
    }
    with open_store(settings) as store:
        store.upsert(list(listings.values()))
        store.refresh()
    service = FeedService(settings)
    created = service.ingest(list(listings.values()), bundles=False).created
    notices = [service.get(nid) for nid in created]
    by_listing = {n.target.listing_id: n.id for n in notices if n.platform == "fakegram"}
    return {key: by_listing[listing.id] for key, listing in listings.items()}


def test_the_review_queue_puts_the_least_certain_first(feed_settings: DragnetSettings) -> None:
    ids = _ingest(
        feed_settings,
        {
            "sure": ("xanax bars 2mg x100, wickr benzoboss", 0.99),
            "near": ("bars available dm", 0.52),
            "middle": ("oxy 80s for sale, tele @pill_uk", 0.75),
        },
    )
    queue = FeedService(feed_settings).review_queue("fakegram")
    assert [n.id for n in queue] == [ids["near"], ids["middle"], ids["sure"]]  # threshold 0.5


def test_decisions_become_labelled_posts_and_disagreements_are_left_out(feed_settings: DragnetSettings) -> None:
    ids = _ingest(
        feed_settings,
        {
            "approved": ("percs 10/325 x50, snap pillplug", 0.9),
            "rejected": ("who got percs near leeds?", 0.6),
            "removed": ("zaza 3.5 for 40, tap in", 0.8),
            "mixed": ("bars for sale", 0.7),
            "open": ("blues dm", 0.55),
        },
    )
    service = FeedService(feed_settings)
    service.review(ids["approved"], "approve", by="analyst:ann")
    service.review(ids["rejected"], "reject", by="analyst:ann")
    service.review(ids["removed"], "approve", by="analyst:ann")
    service.review(ids["mixed"], "approve", by="analyst:ann")
    for key in ("approved", "removed", "mixed"):
        service.mark_sent(service.get(ids[key]), by="dragnet", bump=False)
    service.feedback(ids["removed"], "fakegram", "removed", by="platform:fakegram")
    service.feedback(ids["mixed"], "fakegram", "false_positive", by="platform:fakegram")
    assert label_of(service.get(ids["mixed"])) is None and label_of(service.get(ids["open"])) is None

    with open_store(feed_settings) as store:
        posts = {post.text.strip(): post for post in collect(open_notice_store(feed_settings), store)}
    assert {text: post.sale for text, post in posts.items()} == {
        "percs 10/325 x50, snap pillplug": 1,
        "who got percs near leeds?": 0,
        "zaza 3.5 for 40, tap in": 1,
    }
    assert all((post.intent == "sell") == bool(post.sale) and post.author == "feedback" for post in posts.values())

    # into training, never into evaluation: and a feedback post copying an evaluation post is dropped
    copied = evaluation_posts()[7]
    leak = next(iter(posts.values())).__class__(
        **{**vars(next(iter(posts.values()))), "id": "leak", "text": copied.text}
    )
    datasets = build_datasets(feed_settings.training_data_dir, QUICK_PLAN, 13, [*posts.values(), leak])
    trained = {ex.text for ex in datasets["train"] if ex.source == "feedback"}
    assert trained == set(posts) and copied.text not in trained
    for split in ("validation", "test"):
        assert not any(ex.source == "feedback" for ex in datasets[split])
