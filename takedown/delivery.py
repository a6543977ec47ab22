"""Getting notices to platforms: the pull feed's pages and push webhooks.

Pull: ``feed_page`` walks the platform's released notices in feed-sequence order from a cursor;
the cursor it returns is the sequence of the last notice on the page, so a client that always
passes back ``next_cursor`` sees every change exactly once, tombstones included.  First-time
notices count against the platform's hourly quota; when it is spent the page stops early (the
rest come on a later call, still in order, never dropped).

Push: ``deliver_pending`` POSTs each pending notice to the platform's webhook, signed::

    X-Dragnet-Timestamp: <unix seconds>
    X-Dragnet-Signature: v1=<hex HMAC-SHA256(secret, "<timestamp>." + body)>
    Idempotency-Key:     <notice id>:v<version>

After :func:`rotate_secret`, during the overlap window, the signature header holds two
signatures (``v1=<new>,v1=<old>``).  :func:`send_test_event` sends a signed ``webhook.test``.

A receiver recomputes the HMAC, refuses timestamps outside its replay window and refuses a
signature it has already seen; the idempotency key lets it treat our retries as one delivery.
Failed posts are retried with exponential back-off inside the call, and across calls the
subscription waits ``next_attempt_at``; every attempt lands in the delivery log.
"""

from __future__ import annotations

import json
import logging
import secrets
import socket
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta

import httpx

from dragnet.documents import utcnow
from dragnet.outbound import (
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    WebhookURLError,
    check_url,
    pinned_client,
    sign,
    signed_headers,
    verify_signature,
)
from dragnet.settings import DragnetSettings, get_settings
from takedown.service import FeedService
from takedown.store import FeedRow, WebhookSubscription
from takedown.telemetry import count

log = logging.getLogger(__name__)
IDEMPOTENCY_HEADER = "Idempotency-Key"
TEST_HEADER = "X-Dragnet-Test"
TEST_EVENT = "webhook.test"
DEFAULT_OVERLAP_S = 86_400
MAX_OVERLAP_S = 7 * 86_400


__all__ = [
    "SIGNATURE_HEADER",
    "TIMESTAMP_HEADER",
    "IDEMPOTENCY_HEADER",
    "WebhookURLError",
    "check_webhook_url",
    "deliver_all",
    "deliver_pending",
    "feed_page",
    "sign",
    "rotate_secret",
    "send_test_event",
    "subscribe",
    "verify_signature",
]


@dataclass
class FeedPage:
    rows: list[FeedRow]
    next_cursor: int
    has_more: bool
    rate_limited: bool = False
    retry_after_s: int | None = None
    first_time: list[str] = field(default_factory=list)


def feed_page(service: FeedService, platform: str, since: int, limit: int) -> FeedPage:
    """One page of the pull feed; records first-time notices as sent (by ``pull:<platform>``)."""
    quota = service.quota_left(platform)
    rows = service.store.feed(platform, since, limit + 1)
    page: list[FeedRow] = []
    first_time: list[str] = []
    rate_limited = False
    for row in rows[:limit]:
        if row.notice.status == "approved":
            if quota <= 0:
                rate_limited = True
                break
            quota -= 1
            row = FeedRow(seq=row.seq, notice=service.mark_sent(row.notice, f"pull:{platform}", bump=False))
            service.store.log_delivery(
                platform,
                row.notice.id,
                row.notice.version,
                "pull",
                f"{row.notice.id}:v{row.notice.version}",
                1,
                200,
                True,
                None,
            )
            first_time.append(row.notice.id)
            count("deliveries", platform=platform, channel="pull", outcome="ok")
        page.append(row)
    has_more = rate_limited or len(rows) > limit
    return FeedPage(
        rows=page,
        next_cursor=page[-1].seq if page else since,
        has_more=has_more,
        rate_limited=rate_limited,
        retry_after_s=3600 if rate_limited else None,
        first_time=first_time,
    )


def check_webhook_url(url: str, settings: DragnetSettings) -> str:
    """Refuse a URL Dragnet must not call (see :func:`dragnet.outbound.check_url`)."""
    check_url(url, allow_private=settings.feeds.webhook_allow_private, https_only=settings.env == "prod")
    return url


def subscribe(service: FeedService, platform: str, url: str) -> str:
    """Register (or replace) a platform's webhook; returns the signing secret, shown once."""
    check_webhook_url(url, service.settings)
    secret = secrets.token_urlsafe(32)
    service.store.set_webhook(WebhookSubscription(platform=platform, url=url, secret=secret))
    return secret


class WebhookBusy(RuntimeError):
    """A delivery to the platform's webhook is under way; try again in a moment."""


class NoWebhook(LookupError):
    """The platform has registered no webhook."""


def rotate_secret(service: FeedService, platform: str, overlap_s: int = DEFAULT_OVERLAP_S) -> WebhookSubscription:
    """A new signing secret for the platform's webhook.  For ``overlap_s`` seconds deliveries are
    signed by both the new and the old secret (``v1=<new>,v1=<old>``), so the platform can switch
    its receiver at any moment in that window; afterwards only by the new one.  Both are stored
    sealed (:mod:`dragnet.secretbox`).  Takes the platform's delivery lease, so that no delivery
    in flight writes the old secret back."""
    if not 0 <= overlap_s <= MAX_OVERLAP_S:
        raise ValueError(f"overlap_s must be between 0 and {MAX_OVERLAP_S}")
    lease, holder = f"webhook:{platform}", f"rotate:{socket.gethostname()}:{uuid.uuid4()}"
    if not service.store.acquire_lease(lease, holder, 30):
        raise WebhookBusy(f"a delivery to the webhook of {platform} is under way; try again shortly")
    try:
        sub = service.store.get_webhook(platform)
        if sub is None:
            raise NoWebhook(platform)
        sub.previous_secret = sub.secret if overlap_s else None
        sub.previous_secret_until = utcnow() + timedelta(seconds=overlap_s) if overlap_s else None
        sub.secret = secrets.token_urlsafe(32)
        service.store.set_webhook(sub)
        return sub
    finally:
        service.store.release_lease(lease, holder)


@dataclass
class TestResult:
    """What the receiver answered to a test event (its status only, never its body)."""

    delivered: bool
    status_code: int | None
    error: str | None
    event_id: str


def send_test_event(service: FeedService, platform: str) -> TestResult:
    """POST a signed ``webhook.test`` event to the platform's registered webhook, through the same
    address checks and pinned connection as real deliveries.  The body says ``"test": true`` and
    the ``X-Dragnet-Test: true`` header marks it, so a receiver can verify the signature and then
    ignore it.  One attempt, no retries; logged in the delivery log (channel ``webhook-test``)."""
    sub = service.store.get_webhook(platform)
    if sub is None:
        raise NoWebhook(platform)
    f = service.settings.feeds
    event_id = f"test-{uuid.uuid4()}"
    body = json.dumps(
        {
            "event": TEST_EVENT,
            "test": True,
            "id": event_id,
            "platform": platform,
            "sent_at": utcnow().isoformat(),
            "note": "A test event from Dragnet: verify the signature, answer 2xx, take no action.",
        },
        sort_keys=True,
    ).encode()
    status_code: int | None = None
    error: str | None = None
    try:
        target = check_url(sub.url, allow_private=f.webhook_allow_private, https_only=service.settings.env == "prod")
        with pinned_client(target, f.webhook_timeout_s) as client:
            status_code = _post(client, sub, body, event_id, TEST_EVENT, test=True).status_code
        if not 200 <= status_code < 300:
            error = f"HTTP {status_code}"
    except WebhookURLError as exc:
        error = f"refused: {exc}"[:200]
    except httpx.HTTPError as exc:
        error = f"{type(exc).__name__}: {exc}"[:200]
    ok = error is None
    service.store.log_delivery(platform, "-", 0, "webhook-test", event_id, 1, status_code, ok, error)
    count("deliveries", platform=platform, channel="webhook-test", outcome="ok" if ok else "failed")
    return TestResult(delivered=ok, status_code=status_code, error=error, event_id=event_id)


def _post(
    client: httpx.Client, sub: WebhookSubscription, body: bytes, key: str, event: str, *, test: bool = False
) -> httpx.Response:
    current, *older = sub.signing_secrets(utcnow())
    headers = {
        "Content-Type": "application/json",
        **signed_headers(current, body, *older),
        **({TEST_HEADER: "true"} if test else {}),
        IDEMPOTENCY_HEADER: key,
        "X-Dragnet-Event": event,
        "X-Dragnet-Delivery": str(uuid.uuid4()),
    }
    return client.post(sub.url, content=body, headers=headers)


def _retryable(status: int) -> bool:
    return status in (408, 409, 425, 429) or status >= 500


def deliver_pending(platform: str, settings: DragnetSettings | None = None, service: FeedService | None = None) -> int:
    """Push every released change the platform's webhook has not yet acknowledged, in feed
    order; returns how many were delivered.  Called by the workers' ``deliver_feed`` task."""
    settings = settings or get_settings()
    service = service or FeedService(settings)
    sub = service.store.get_webhook(platform)
    if sub is None:
        return 0
    now = utcnow()
    if sub.next_attempt_at is not None and sub.next_attempt_at > now:
        return 0
    f = settings.feeds
    lease, holder = f"webhook:{platform}", f"{socket.gethostname()}:{uuid.uuid4()}"
    lease_s = f.webhook_timeout_s * f.webhook_max_attempts + f.webhook_backoff_max_s + 30
    if not service.store.acquire_lease(lease, holder, lease_s):
        return 0  # another worker is delivering to this platform; it keeps the order
    try:
        sub = service.store.get_webhook(platform) or sub  # what that worker left behind
        return _deliver_locked(service, platform, sub, lambda: service.store.acquire_lease(lease, holder, lease_s))
    finally:
        service.store.release_lease(lease, holder)


def _deliver_locked(service: FeedService, platform: str, sub: WebhookSubscription, renew: Callable[[], bool]) -> int:
    f = service.settings.feeds
    quota = service.quota_left(platform)
    delivered = 0
    try:  # checked again at every delivery, and the connection goes to the address checked now
        target = check_url(sub.url, allow_private=f.webhook_allow_private, https_only=service.settings.env == "prod")
    except WebhookURLError as exc:
        sub.failures += 1
        sub.next_attempt_at = utcnow() + timedelta(seconds=f.webhook_backoff_max_s)
        service.store.set_webhook(sub)
        service.store.log_delivery(platform, "-", 0, "webhook", "-", 1, None, False, f"refused: {exc}"[:200])
        log.warning("webhook of %s refused at delivery: %s", platform, exc)
        return 0
    with pinned_client(target, f.webhook_timeout_s) as client:
        for row in service.store.feed(platform, sub.delivered_seq, f.webhook_batch):
            if not renew():
                return delivered
            notice = row.notice
            first_time = notice.status == "approved"
            if first_time and quota <= 0:
                break
            event = "notice.delete" if notice.should_delete else "notice.upsert"
            body = json.dumps(
                {"event": event, "seq": row.seq, "notice": json.loads(notice.model_dump_json())}, sort_keys=True
            ).encode()
            key = f"{notice.id}:v{notice.version}"
            ok = False
            for attempt in range(1, f.webhook_max_attempts + 1):
                status_code: int | None = None
                error: str | None = None
                try:
                    response = _post(client, sub, body, key, event)
                    status_code = response.status_code
                    ok = 200 <= status_code < 300
                    if not ok:  # the status only: the target's answer is not the platform's to read
                        error = f"HTTP {status_code}"
                except httpx.HTTPError as exc:
                    error = f"{type(exc).__name__}: {exc}"
                service.store.log_delivery(
                    platform, notice.id, notice.version, "webhook", key, attempt, status_code, ok, error
                )
                count("deliveries", platform=platform, channel="webhook", outcome="ok" if ok else "failed")
                if ok or (status_code is not None and not _retryable(status_code)):
                    break
                if attempt < f.webhook_max_attempts:
                    time.sleep(min(f.webhook_backoff_s * 2 ** (attempt - 1), f.webhook_backoff_max_s))
            if not ok:
                sub.failures += 1
                wait = min(f.webhook_backoff_s * 2**sub.failures, f.webhook_backoff_max_s)
                sub.next_attempt_at = utcnow() + timedelta(seconds=wait)
                service.store.set_webhook(sub)
                log.warning("webhook delivery to %s failed for %s; next attempt in %.1fs", platform, key, wait)
                return delivered
            if first_time:
                quota -= 1
                service.mark_sent(notice, f"webhook:{platform}", bump=False)
            sub.delivered_seq = row.seq
            sub.failures = 0
            sub.next_attempt_at = None
            service.store.set_webhook(sub)
            delivered += 1
    return delivered


def deliver_all(settings: DragnetSettings | None = None) -> dict[str, int]:
    """``deliver_pending`` for every platform in the registry (the CLI and a beat schedule)."""
    settings = settings or get_settings()
    service = FeedService(settings)
    return {name: deliver_pending(name, settings, service) for name in service.registry.names()}
