"""The shared crawl frontier: scrapy-redis's scheduler with a dupefilter that forgets.

Several crawler processes pop from one Redis queue; a request is "seen" when any process has
scheduled its fingerprint within ``crawl.recrawl_after_s`` (one Redis key per fingerprint with
that TTL, set atomically with ``SET NX EX``), so a listing is fetched once per freshness window
by the whole fleet and becomes due again afterwards.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from scrapy import signals
from scrapy.exceptions import DontCloseSpider
from scrapy_redis.dupefilter import RFPDupeFilter

log = logging.getLogger(__name__)


class FreshnessDupeFilter(RFPDupeFilter):
    ttl_s: int = 24 * 3600

    @classmethod
    def from_crawler(cls, crawler: Any) -> "FreshnessDupeFilter":
        dupefilter = super().from_crawler(crawler)
        dupefilter.ttl_s = max(1, int(crawler.settings.getfloat("DRAGNET_RECRAWL_AFTER_S", cls.ttl_s)))
        return dupefilter

    def request_seen(self, request: Any) -> bool:
        fp = self.request_fingerprint(request)
        added = self.server.set(f"{self.key}:{fp}", 1, nx=True, ex=self.ttl_s)
        return not added


class SharedFrontierIdle:
    """With a shared frontier, an idle process waits until the queue has stayed empty for a
    while: another process may still be parsing pages that add work."""

    def __init__(self, crawler: Any, grace_s: float) -> None:
        self.crawler = crawler
        self.grace_s = grace_s
        self.empty_since: float | None = None

    @classmethod
    def from_crawler(cls, crawler: Any) -> "SharedFrontierIdle":
        ext = cls(crawler, crawler.settings.getfloat("DRAGNET_FRONTIER_IDLE_S", 3.0))
        if crawler.settings.get("DRAGNET_FRONTIER_REDIS"):
            crawler.signals.connect(ext.spider_idle, signal=signals.spider_idle)
        return ext

    def spider_idle(self, spider: Any) -> None:
        scheduler = self.crawler.engine._slot.scheduler  # noqa: SLF001 - no public accessor
        if scheduler.has_pending_requests():
            self.empty_since = None
            raise DontCloseSpider
        now = time.monotonic()
        if self.empty_since is None:
            self.empty_since = now
        if now - self.empty_since < self.grace_s:
            raise DontCloseSpider
