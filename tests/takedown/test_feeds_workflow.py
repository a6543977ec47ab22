"""Notices built from hits, deduplication, the review workflow and the pull feed's semantics."""

from __future__ import annotations

from datetime import timedelta

import pytest
import yaml
from prometheus_client import REGISTRY

from dragnet.documents import utcnow
from dragnet.settings import DragnetSettings
from takedown.delivery import feed_page
from takedown.notices import render_letter
from takedown.recrawl import classify_response
from takedown.service import FeedService, NotFound, WorkflowError
from takedown.store import ConflictError
from tests.takedown.helpers import make_hit

TEXT = "Fresh xanax bars 2mg, 50 pills for $120, tele @plug_uk, ships EU 🔌"


def test_notice_carries_target_verdict_law_and_proof(feed_settings: DragnetSettings) -> None:
    service = FeedService(feed_settings)
    hit = make_hit("https://fakegram.test/p/A1?ref=share", TEXT)
    result = service.ingest([hit])
    # the post on fakegram, and the Telegram account it advertises
    assert len(result.created) == 2
    notices = {n.platform: n for n in service.store.all()}
    n = notices["fakegram"]
    assert n.status == "new" and n.version == 1 and not n.should_delete
    assert n.target.native_ids == {"post_id": "A1"} and n.target.content_type == "post"
    assert n.target.url == hit.url and n.target.canonical_url == hit.canonical_url
    kinds = {i.type for i in n.indicators}
    assert {"url", "text", "contact"} <= kinds
    v = n.verdict
    assert v.score == pytest.approx(0.95) and v.substances == {"benzodiazepines": 0.91}
    assert any(e.text == "xanax bars" for e in v.evidence)
    assert '"xanax bars"' in v.explanation and "telegram plug_uk" in v.explanation
    assert v.severity == "high" and v.tlp == "TLP:AMBER" and v.review_status == "pending"
    assert v.expires_at > v.first_seen
    law = n.law
    assert law.dsa_category == "STATEMENT_CATEGORY_UNSAFE_AND_ILLEGAL_PRODUCTS"
    assert law.dsa_keyword == "KEYWORD_REGULATED_GOODS_SERVICES"
    assert law.jurisdiction == "EU" and law.trusted_flagger is True
    a16 = law.art16
    assert a16.explanation == v.explanation and hit.url in a16.exact_location
    assert a16.notifier_name == "Dragnet test notifier" and "@" in a16.notifier_email
    assert "good faith" in a16.good_faith_statement or "bona fide" in a16.good_faith_statement
    assert n.proof.content_sha256 == hit.content_sha256
    assert n.proof.bundle and len(n.proof.bundle_sha256 or "") == 64
    assert (feed_settings.paths.evidence_dir / n.proof.bundle).is_file()
    tg = notices["telegram"]
    assert tg.target.content_type == "profile" and tg.target.profile_url == "https://t.me/plug_uk"
    assert tg.proof.bundle == n.proof.bundle  # one bundle per hit


def test_same_target_same_verdict_is_deduplicated(feed_settings: DragnetSettings) -> None:
    service = FeedService(feed_settings)
    first = make_hit("https://fakegram.test/p/D1", "xanax bars 2mg for sale")
    service.ingest([first])
    seq = service.store.max_seq()
    # the same post through another URL shape, seen later: a duplicate, invisible to the platform
    again = make_hit("https://fakegram.test/p/D1/?utm_source=x", "xanax bars 2mg for sale")
    again.last_seen = utcnow() + timedelta(hours=1)
    result = service.ingest([again])
    assert result.created == [] and len(result.duplicates) == 1
    assert service.store.max_seq() == seq
    stored = service.get(result.duplicates[0])
    assert stored.version == 1 and stored.verdict.last_seen == again.last_seen
    # a different verdict on the same target is a new version of the same notice
    changed = make_hit(
        "https://fakegram.test/p/D1", "xanax and oxy 80s", substances={"benzodiazepines": 0.9, "opioids": 0.8}
    )
    result = service.ingest([changed])
    assert result.updated == [stored.id]
    assert service.get(stored.id).version == 2 and service.get(stored.id).verdict.severity == "critical"


def test_review_workflow_and_transitions_are_recorded(feed_settings: DragnetSettings) -> None:
    service = FeedService(feed_settings)
    [nid] = service.ingest([make_hit("https://fakegram.test/p/R1", "xanax bars")], bundles=False).created

    for kind in ("removed", "disputed"):
        with pytest.raises(NotFound):  # not released yet: the platform cannot even see it
            service.feedback(nid, "fakegram", kind, by="platform:fakegram")
    service.review(nid, "approve", by="analyst:ann")
    with pytest.raises(WorkflowError):
        service.review(nid, "approve", by="analyst:bob")  # approved is not new
    page = feed_page(service, "fakegram", 0, 10)
    assert [r.notice.id for r in page.rows] == [nid] and page.first_time == [nid]
    notice = service.get(nid)
    assert notice.status == "sent"
    assert [(h.status, h.by) for h in notice.history] == [
        ("new", "dragnet"),
        ("approved", "analyst:ann"),
        ("sent", "pull:fakegram"),
    ]
    assert all(h.at.tzinfo is not None for h in notice.history)
    assert notice.verdict.review == "manual" and notice.verdict.review_status == "approved"
    # pulling again returns nothing new: marking as sent did not re-publish it
    assert feed_page(service, "fakegram", page.next_cursor, 10).rows == []


def test_unapproved_and_rejected_notices_never_reach_the_feed(feed_settings: DragnetSettings) -> None:
    service = FeedService(feed_settings)
    ids = service.ingest(
        [make_hit(f"https://fakegram.test/p/U{i}", "xanax bars") for i in range(3)], bundles=False
    ).created
    service.review(ids[0], "reject", by="analyst:ann", note="satire")
    service.review(ids[1], "approve", by="analyst:ann")
    assert [r.notice.id for r in feed_page(service, "fakegram", 0, 10).rows] == [ids[1]]


def test_auto_approve_above_platform_score(feed_settings: DragnetSettings, tmp_path) -> None:
    raw = yaml.safe_load(feed_settings.feeds.platforms_file.read_text())
    raw["platforms"]["fakegram"]["auto_approve_score"] = 0.9
    path = tmp_path / "auto.yaml"
    path.write_text(yaml.safe_dump(raw))
    settings = feed_settings.model_copy(
        update={"feeds": feed_settings.feeds.model_copy(update={"platforms_file": path})}
    )
    service = FeedService(settings)
    result = service.ingest(
        [
            make_hit("https://fakegram.test/p/H", "xanax bars", score=0.97),
            make_hit("https://fakegram.test/p/L", "xanax bars", score=0.8),
        ],
        bundles=False,
    )
    assert len(result.auto_approved) == 1
    high = service.get(result.auto_approved[0])
    assert high.target.native_ids["post_id"] == "H" and high.status == "approved"
    assert high.verdict.review == "automated" and high.history[-1].by == "auto:score>=0.9"
    low = [i for i in result.created if i != high.id][0]
    assert service.get(low).status == "new"


def test_rate_limit_holds_back_first_time_notices_without_dropping_them(feed_settings: DragnetSettings) -> None:
    settings = feed_settings.model_copy(
        update={"feeds": feed_settings.feeds.model_copy(update={"max_notices_per_hour": 3})}
    )
    service = FeedService(settings)
    ids = service.ingest(
        [make_hit(f"https://fakegram.test/p/Q{i}", "xanax bars") for i in range(5)], bundles=False
    ).created
    for nid in ids:
        service.review(nid, "approve", by="analyst:ann")
    page = feed_page(service, "fakegram", 0, 100)
    assert len(page.rows) == 3 and page.rate_limited and page.has_more
    again = feed_page(service, "fakegram", page.next_cursor, 100)
    assert again.rows == [] and again.rate_limited and again.next_cursor == page.next_cursor
    # an hour later the rest arrive, in order, none lost
    for nid in [r.notice.id for r in page.rows]:
        n = service.get(nid)
        for h in n.history:
            if h.status == "sent":
                h.at -= timedelta(hours=2)
        service.store.save(n, bump=False)
    rest = feed_page(service, "fakegram", page.next_cursor, 100)
    assert [r.notice.id for r in page.rows + rest.rows] == ids


def test_expiry_publishes_a_tombstone(feed_settings: DragnetSettings) -> None:
    service = FeedService(feed_settings)
    [nid] = service.ingest([make_hit("https://fakegram.test/p/E1", "xanax bars")], bundles=False).created
    service.review(nid, "approve", by="analyst:ann")
    cursor = feed_page(service, "fakegram", 0, 10).next_cursor
    assert service.expire_due(utcnow() + timedelta(days=feed_settings.feeds.notice_ttl_days + 1)) == 1
    [row] = feed_page(service, "fakegram", cursor, 10).rows
    assert row.notice.should_delete and row.notice.status == "expired"


def test_stale_writes_are_refused(feed_settings: DragnetSettings) -> None:
    service = FeedService(feed_settings)
    [nid] = service.ingest([make_hit("https://fakegram.test/p/C1", "xanax bars")], bundles=False).created
    stale = service.get(nid)
    service.review(nid, "approve", by="analyst:ann")
    stale.status = "rejected"
    with pytest.raises(ConflictError):
        service.store.save(stale, expect_version=stale.version)
    assert service.get(nid).status == "approved"


def test_a_removed_post_that_reappears_goes_back_to_review_unseen(feed_settings: DragnetSettings) -> None:
    service = FeedService(feed_settings)
    hit = make_hit("https://fakegram.test/p/BACK", "xanax bars")
    [nid] = service.ingest([hit], bundles=False).created
    service.review(nid, "approve", by="analyst:ann")
    cursor = feed_page(service, "fakegram", 0, 10).next_cursor
    service.feedback(nid, "fakegram", "removed", by="platform:fakegram")
    result = service.ingest([hit], bundles=False)
    assert result.updated == [nid]
    notice = service.get(nid)
    assert notice.status == "new" and notice.history[-1].note == "seen again after removed"
    assert feed_page(service, "fakegram", cursor, 10).rows == []  # not before an analyst looks again
    service.review(nid, "approve", by="analyst:ann")
    [row] = feed_page(service, "fakegram", cursor, 10).rows
    assert row.notice.id == nid and row.notice.status == "sent"


@pytest.mark.parametrize(
    "status, body, outcome",
    [
        (404, "", "gone"),
        (410, "", "gone"),
        (451, "", "gone"),
        (200, "<div>This post has been removed</div>", "gone"),
        (200, "<script>var s='post removed'</script><p>xanax bars</p>", "present"),
        (200, "<p>xanax bars</p>", "present"),
        (503, "", "unknown"),
        (429, "", "unknown"),
    ],
)
def test_recrawl_outcomes(status: int, body: str, outcome: str, feed_settings: DragnetSettings) -> None:
    assert classify_response(status, body, feed_settings.feeds.removed_markers)[0] == outcome


def test_withdrawn_or_declined_notices_stay_closed_on_recrawl(feed_settings: DragnetSettings) -> None:
    service = FeedService(feed_settings)
    hits = [make_hit("https://fakegram.test/p/WD", "xanax bars"), make_hit("https://fakegram.test/p/FP", "xanax bars")]
    wd, fp = service.ingest(hits, bundles=False).created
    for nid in (wd, fp):
        service.review(nid, "approve", by="analyst:ann")
    feed_page(service, "fakegram", 0, 10)
    service.withdraw(wd, by="analyst:ann", reason="parody account")
    service.feedback(fp, "fakegram", "false_positive", by="platform:fakegram")
    again = service.ingest(hits, bundles=False)
    assert sorted(again.duplicates) == sorted([wd, fp]) and again.updated == []
    assert service.get(wd).status == "rejected" and service.get(fp).status == "rejected"


def test_letter_has_the_four_art16_elements(feed_settings: DragnetSettings) -> None:
    service = FeedService(feed_settings)
    [nid, _] = service.ingest(
        [make_hit("https://fakegram.test/p/LT", "xanax bars 2mg, tele @plug_uk\r\nInjected: header")]
    ).created
    letter = render_letter(service.get(nid))
    for part in (
        "Art. 16(2)(a)",
        "Art. 16(2)(b)",
        "Art. 16(2)(c)",
        "Art. 16(2)(d)",
        "https://fakegram.test/p/LT",
        "Dragnet test notifier",
        "trusted flagger",
        "STATEMENT_CATEGORY_UNSAFE_AND_ILLEGAL_PRODUCTS",
        nid,
    ):
        assert part in letter, part
    assert "\r" not in letter


def test_prometheus_counters_move(feed_settings: DragnetSettings) -> None:
    def value(name: str, **labels: str) -> float:
        return REGISTRY.get_sample_value(name, labels) or 0.0

    service = FeedService(feed_settings)
    before = value("dragnet_feed_notices_total", platform="fakegram", outcome="created")
    dup_before = value("dragnet_feed_notices_total", platform="fakegram", outcome="duplicate")
    hit = make_hit("https://fakegram.test/p/PM", "xanax bars")
    [nid] = service.ingest([hit], bundles=False).created
    service.ingest([hit], bundles=False)
    service.review(nid, "approve", by="analyst:ann")
    assert value("dragnet_feed_notices_total", platform="fakegram", outcome="created") == before + 1
    assert value("dragnet_feed_notices_total", platform="fakegram", outcome="duplicate") == dup_before + 1
    assert value("dragnet_feed_transitions_total", platform="fakegram", status="approved") >= 1
