"""Webhook delivery under failure: retries, back-off across calls, refused signatures, one
deliverer per platform; and the impact figures computed by hand."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from dragnet.settings import DragnetSettings
from takedown import metrics
from takedown.delivery import deliver_pending, subscribe
from takedown.service import FeedService
from tests.takedown.helpers import FakePlatform, make_hit


def _approved(service: FeedService, n: int, prefix: str) -> list[str]:
    ids = service.ingest(
        [make_hit(f"https://fakegram.test/p/{prefix}{i}", f"xanax bars {i}") for i in range(n)], bundles=False
    ).created
    for nid in ids:
        service.review(nid, "approve", by="analyst:ann")
    return ids


def test_outage_backs_off_then_resumes_in_order(feed_settings: DragnetSettings, fake_platform: FakePlatform) -> None:
    service = FeedService(feed_settings)
    ids = _approved(service, 3, "O")
    fake_platform.secret = subscribe(service, "fakegram", f"http://127.0.0.1:{fake_platform.port}/hook")
    fake_platform.fail_next = 100  # the platform is down
    assert deliver_pending("fakegram", feed_settings, service) == 0
    attempts = service.store.deliveries("fakegram")
    assert len(attempts) == feed_settings.feeds.webhook_max_attempts and not any(a.ok for a in attempts)
    sub = service.store.get_webhook("fakegram")
    assert sub.failures == 1 and sub.next_attempt_at is not None
    # while backing off, nothing is attempted
    assert deliver_pending("fakegram", feed_settings, service) == 0
    assert len(service.store.deliveries("fakegram")) == len(attempts)
    # the platform is back and the back-off has passed: everything, in order, once
    fake_platform.fail_next = 0
    sub.next_attempt_at = datetime.now(UTC) - timedelta(seconds=1)
    service.store.set_webhook(sub)
    assert deliver_pending("fakegram", feed_settings, service) == 3
    assert [e["notice"]["id"] for e in fake_platform.events] == ids
    assert all(service.get(i).status == "sent" for i in ids)


def test_a_refused_signature_is_not_hammered(feed_settings: DragnetSettings, fake_platform: FakePlatform) -> None:
    service = FeedService(feed_settings)
    _approved(service, 2, "W")
    subscribe(service, "fakegram", f"http://127.0.0.1:{fake_platform.port}/hook")
    fake_platform.secret = "the platform stored some other secret"
    assert deliver_pending("fakegram", feed_settings, service) == 0
    assert [v for v in fake_platform.verdicts] == [(401, "bad signature")]  # 4xx: no retry storm
    assert fake_platform.events == []


def test_one_deliverer_per_platform(feed_settings: DragnetSettings, fake_platform: FakePlatform) -> None:
    service = FeedService(feed_settings)
    _approved(service, 2, "L")
    fake_platform.secret = subscribe(service, "fakegram", f"http://127.0.0.1:{fake_platform.port}/hook")
    assert service.store.acquire_lease("webhook:fakegram", "another-worker", 60)
    assert deliver_pending("fakegram", feed_settings, service) == 0 and fake_platform.verdicts == []
    service.store.release_lease("webhook:fakegram", "another-worker")
    assert deliver_pending("fakegram", feed_settings, service) == 2


def test_impact_figures_by_hand(feed_settings: DragnetSettings) -> None:
    """Ten removals taking 1..10 hours (p50 5.5 h, p90 9.1 h with linear interpolation), split
    across two months; one false positive; one still open."""
    service = FeedService(feed_settings)
    ids = _approved(service, 12, "M")
    base = datetime(2026, 10, 25, 12, tzinfo=UTC)
    for k, nid in enumerate(ids):
        n = service.get(nid)
        sent_at = base + timedelta(days=k)
        n.history.append(n.entry("sent", "pull:fakegram", at=sent_at))
        n.status = "sent"
        if k < 10:
            n.history.append(
                n.entry("removed", "recrawl" if k % 2 else "platform:fakegram", at=sent_at + timedelta(hours=k + 1))
            )
            n.status = "removed"
        elif k == 10:
            n.history.append(n.entry("rejected", "platform:fakegram", at=sent_at + timedelta(hours=2)))
            n.status, n.feedback = "rejected", "false_positive"
        service.store.save(n, bump=False)
    m = metrics.compute(service.store, year=2026)
    assert m.time_to_removal_hours["p50"] == pytest.approx(5.5) and m.time_to_removal_hours["p90"] == pytest.approx(9.1)
    assert m.removed_per_month == {"2026-10": 7, "2026-11": 3}
    f = m.platforms["fakegram"]
    assert (f.sent, f.removed, f.removed_confirmed_by_recrawl, f.false_positive) == (12, 10, 5, 1)
    assert f.removal_rate == pytest.approx(10 / 12, abs=1e-4) and f.false_positive_rate == pytest.approx(
        1 / 12, abs=1e-4
    )
    tf = m.trusted_flagger_report
    assert tf.notices == 12 and tf.by_outcome == {"removed": 10, "declined (false positive)": 1, "no answer yet": 1}
    assert metrics.compute(service.store, year=2025).trusted_flagger_report.notices == 0
    png = metrics.render_plot(m, "png")
    assert png.startswith(b"\x89PNG")
