"""The shared crawl frontier: scrapy-redis's scheduler with a dupefilter that forgets.

Several crawler processes pop from one Redis queue; a request is "seen" when any process has
scheduled its fingerprint within ``crawl.recrawl_after_s`` (one Redis key per fingerprint with
that TTL, set atomically with ``SET NX EX``), so a listing is fetched once per freshness window
by the whole fleet and becomes due again afterwards.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from typing import Any

from scrapy import signals
from scrapy.exceptions import DontCloseSpider
from scrapy_redis.dupefilter import RFPDupeFilter

from dragnet.broker import restart_tolerant_redis

log = logging.getLogger(__name__)

# scrapy-redis's queue key (spider = site name), set explicitly so that the crawl schedule
# (crawlers/schedule.py) reads the same key to know whether a site still has queued work.
FRONTIER_QUEUE_SUFFIX = ":requests"
FRONTIER_QUEUE_KEY = "%(spider)s" + FRONTIER_QUEUE_SUFFIX


class FreshnessDupeFilter(RFPDupeFilter):
    ttl_s: int = 24 * 3600

    @classmethod
    def from_spider(cls, spider: Any) -> FreshnessDupeFilter:
        """What scrapy-redis's scheduler calls: the key carries the spider (= site) name."""
        dupefilter = super().from_spider(spider)
        dupefilter.ttl_s = max(1, int(spider.settings.getfloat("DRAGNET_RECRAWL_AFTER_S", cls.ttl_s)))
        return dupefilter

    def clear(self) -> None:
        for key in self.server.scan_iter(f"{self.key}:*", count=1000):
            self.server.delete(key)

    def request_seen(self, request: Any) -> bool:
        fp = self.request_fingerprint(request)
        added = self.server.set(f"{self.key}:{fp}", 1, nx=True, ex=self.ttl_s)
        return not added


class SharedFrontierIdle:
    """With a shared frontier, an idle process stays open while any process of the same crawl
    still has work in flight (its pages may add requests to the queue), and closes once the
    queue is empty and every process is idle.

    Each process keeps ``<spider>:busy:<host>:<pid>`` in Redis (1 while it downloads, 0 when
    idle, expiring after ``DRAGNET_FRONTIER_BUSY_TTL_S`` so a crashed process cannot hold the
    others open for ever)."""

    def __init__(self, crawler: Any, grace_s: float, ttl_s: int) -> None:
        self.crawler = crawler
        self.grace_s = grace_s
        self.ttl_s = ttl_s
        self.empty_since: float | None = None
        self.server: Any = None
        self.key = ""
        self._last_busy = 0.0

    @classmethod
    def from_crawler(cls, crawler: Any) -> SharedFrontierIdle:
        ext = cls(
            crawler,
            crawler.settings.getfloat("DRAGNET_FRONTIER_IDLE_S", 2.0),
            crawler.settings.getint("DRAGNET_FRONTIER_BUSY_TTL_S", 60),
        )
        if crawler.settings.get("DRAGNET_FRONTIER_REDIS"):
            crawler.signals.connect(ext.spider_opened, signal=signals.spider_opened)
            crawler.signals.connect(ext.spider_idle, signal=signals.spider_idle)
            crawler.signals.connect(ext.busy, signal=signals.response_received)
            crawler.signals.connect(ext.spider_closed, signal=signals.spider_closed)
        return ext

    def spider_opened(self, spider: Any) -> None:
        self.server = restart_tolerant_redis(self.crawler.settings.get("DRAGNET_FRONTIER_REDIS"))
        self.prefix = f"{spider.name}:busy:"
        self.key = f"{self.prefix}{socket.gethostname()}:{os.getpid()}"
        self.server.set(self.key, 1, ex=self.ttl_s)

    def busy(self, *args: Any, **kwargs: Any) -> None:
        self.empty_since = None
        now = time.monotonic()
        if now - self._last_busy > 1.0:  # at most one Redis write a second
            self._last_busy = now
            self.server.set(self.key, 1, ex=self.ttl_s)

    def _others_busy(self) -> bool:
        for key in self.server.scan_iter(f"{self.prefix}*", count=1000):
            if key.decode() != self.key and self.server.get(key) == b"1":
                return True
        return False

    def spider_idle(self, spider: Any) -> None:
        self.server.set(self.key, 0, ex=self.ttl_s)
        self._last_busy = 0.0
        scheduler = self.crawler.engine._slot.scheduler
        if scheduler.has_pending_requests() or self._others_busy():
            self.empty_since = None
            raise DontCloseSpider
        now = time.monotonic()
        if self.empty_since is None:
            self.empty_since = now
        if now - self.empty_since < self.grace_s:
            raise DontCloseSpider

    def spider_closed(self, spider: Any) -> None:
        if self.server is not None:
            self.server.delete(self.key)
