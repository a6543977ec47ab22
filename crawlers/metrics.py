"""Prometheus metrics of a crawl: a Scrapy extension hooked to the crawler's signals.

Per site (the profile's name, a bounded set): pages fetched by status class, items scraped,
bytes downloaded, errors by kind, gate events (a gate page seen, solved, not solved, the site
paused for a human), whether the site's crawl is running, and when it last fetched a page (the
"crawl stalled" alert).  Every series of a site exists at zero from the moment its spider opens.

Where they go, like the workers' metrics (``workers.metrics``): with ``crawl.metrics_port`` the
crawl process serves ``/metrics`` on ``crawl.metrics_host`` (127.0.0.1 by default) while it
runs; with ``crawl.metrics_textfile`` the final figures are written to that file whenever a
site's crawl ends (atomically; node_exporter's textfile collector reads it), so a one-shot crawl
that ends between two scrapes is not lost.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry, start_http_server, write_to_textfile
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from scrapy import signals

from crawlers.runlog import CrawlRun, append_run

log = logging.getLogger(__name__)

# Sent by crawlers.middlewares.SessionMiddleware: ``send_catch_log(gate_event, site=..., outcome=...)``
gate_event = object()
GATE_OUTCOMES = ("seen", "solved", "unsolved", "paused")
STATUS_CLASSES = ("1xx", "2xx", "3xx", "4xx", "5xx")
ERROR_KINDS = ("download", "spider", "item")


@dataclass
class SiteFigures:
    """What one site's crawl has done so far (this process only)."""

    pages: dict[str, int] = field(default_factory=lambda: dict.fromkeys(STATUS_CLASSES, 0))
    items: int = 0
    bytes: int = 0
    errors: dict[str, int] = field(default_factory=lambda: dict.fromkeys(ERROR_KINDS, 0))
    gates: dict[str, int] = field(default_factory=lambda: dict.fromkeys(GATE_OUTCOMES, 0))
    running: bool = False
    started_at: float = 0.0
    last_page_at: float = 0.0
    stats: Any = None  # the crawler's stats collector (download exceptions are counted there)

    def download_errors(self) -> int:
        counted = self.stats.get_value("downloader/exception_count", 0) if self.stats is not None else 0
        return int(counted or 0) + self.errors["download"]


class CrawlCollector:
    """Reads every site's figures when Prometheus scrapes (or the text file is written)."""

    def __init__(self) -> None:
        self.sites: dict[str, SiteFigures] = {}
        self.lock = threading.Lock()

    def site(self, name: str) -> SiteFigures:
        with self.lock:
            return self.sites.setdefault(name, SiteFigures())

    def collect(self) -> Iterator[Metric]:
        pages = CounterMetricFamily(
            "dragnet_crawl_pages", "Responses received, by status class.", labels=["site", "status"]
        )
        items = CounterMetricFamily("dragnet_crawl_items", "Items (listings, posts) scraped.", labels=["site"])
        size = CounterMetricFamily("dragnet_crawl_bytes", "Response body bytes downloaded.", labels=["site"])
        errors = CounterMetricFamily(
            "dragnet_crawl_errors",
            "Errors: download (connection, timeout, proxy), spider (a callback raised), item (a pipeline raised).",
            labels=["site", "kind"],
        )
        gates = CounterMetricFamily(
            "dragnet_crawl_gates",
            "Gate pages: seen, solved, unsolved, and sites paused for a human.",
            labels=["site", "outcome"],
        )
        running = GaugeMetricFamily("dragnet_crawl_running", "1 while the site's crawl runs.", labels=["site"])
        started = GaugeMetricFamily(
            "dragnet_crawl_started_timestamp_seconds", "When the site's crawl started (Unix time).", labels=["site"]
        )
        last = GaugeMetricFamily(
            "dragnet_crawl_last_page_timestamp_seconds",
            "When the site's crawl last received a page (its start until the first one).",
            labels=["site"],
        )
        with self.lock:
            sites = sorted(self.sites.items())
        for name, figures in sites:
            for status, value in figures.pages.items():
                pages.add_metric([name, status], value)
            items.add_metric([name], figures.items)
            size.add_metric([name], figures.bytes)
            for kind in ERROR_KINDS:
                value = figures.download_errors() if kind == "download" else figures.errors[kind]
                errors.add_metric([name, kind], value)
            for outcome, value in figures.gates.items():
                gates.add_metric([name, outcome], value)
            running.add_metric([name], 1.0 if figures.running else 0.0)
            started.add_metric([name], figures.started_at)
            last.add_metric([name], figures.last_page_at)
        yield from (pages, items, size, errors, gates, running, started, last)


COLLECTOR = CrawlCollector()
REGISTRY = CollectorRegistry(auto_describe=False)
REGISTRY.register(COLLECTOR)
_server_lock = threading.Lock()
_server: Any = None


def serve(port: int, host: str) -> int:
    """Serve this process's crawl metrics on ``host:port`` (once per process); the bound port."""
    global _server
    with _server_lock:
        if _server is None:
            _server, _ = start_http_server(port, addr=host, registry=REGISTRY)
            log.info("crawl metrics on http://%s:%d/metrics", host, _server.server_port)
        return int(_server.server_port)


class CrawlMetrics:
    """The extension (``EXTENSIONS`` in :mod:`crawlers.settings`): one per crawler, i.e. per site."""

    def __init__(self, crawler: Any) -> None:
        self.crawler = crawler
        self.figures: SiteFigures | None = None
        settings = crawler.settings
        self.port = settings.get("DRAGNET_METRICS_PORT")
        self.host = settings.get("DRAGNET_METRICS_HOST") or "127.0.0.1"
        self.textfile = settings.get("DRAGNET_METRICS_TEXTFILE")
        self.runs_file = settings.get("DRAGNET_CRAWL_RUNS")
        self.baseline: tuple[int, int, int, int] = (0, 0, 0, 0)
        self.site_name = ""

    @classmethod
    def from_crawler(cls, crawler: Any) -> CrawlMetrics:
        ext = cls(crawler)
        crawler.signals.connect(ext.spider_opened, signal=signals.spider_opened)
        crawler.signals.connect(ext.spider_closed, signal=signals.spider_closed)
        crawler.signals.connect(ext.response_received, signal=signals.response_received)
        crawler.signals.connect(ext.item_scraped, signal=signals.item_scraped)
        crawler.signals.connect(ext.spider_error, signal=signals.spider_error)
        crawler.signals.connect(ext.item_error, signal=signals.item_error)
        crawler.signals.connect(ext.gate, signal=gate_event)
        return ext

    @staticmethod
    def site_of(spider: Any) -> str:
        profile = getattr(spider, "profile", None)
        return str(getattr(profile, "name", None) or spider.name)

    def spider_opened(self, spider: Any) -> None:
        self.site_name = self.site_of(spider)
        self.figures = COLLECTOR.site(self.site_name)
        now = time.time()
        self.figures.running, self.figures.started_at, self.figures.last_page_at = True, now, now
        self.figures.stats = self.crawler.stats
        self.baseline = self.totals(self.figures)
        if self.port is not None and self.port != "":
            serve(int(self.port), self.host)

    @staticmethod
    def totals(figures: SiteFigures) -> tuple[int, int, int, int]:
        """Pages, items, errors, gate pauses so far (the figures of a site add up over runs)."""
        errors = figures.download_errors() + figures.errors["spider"] + figures.errors["item"]
        return sum(figures.pages.values()), figures.items, errors, figures.gates["paused"]

    def spider_closed(self, spider: Any, reason: str = "") -> None:
        if self.figures is not None:
            self.figures.running = False
            if self.runs_file:
                self.record_run(self.figures, reason)
        if self.textfile:
            write_to_textfile(str(self.textfile), REGISTRY)

    def record_run(self, figures: SiteFigures, reason: str) -> None:
        """This run's figures (now less the start's) as a line of the crawl-runs file."""
        now = self.totals(figures)
        pages, items, errors, pauses = (a - b for a, b in zip(now, self.baseline, strict=True))
        run = CrawlRun(self.site_name, figures.started_at, time.time(), pages, items, errors, pauses, reason)
        try:
            append_run(Path(self.runs_file), run)
        except OSError:
            log.exception("could not record the crawl run of %s", run.site)

    def response_received(self, response: Any, request: Any = None, spider: Any = None) -> None:
        if self.figures is None:
            return
        status = min(max(int(response.status) // 100, 1), 5)
        self.figures.pages[f"{status}xx"] += 1
        self.figures.bytes += len(response.body)
        self.figures.last_page_at = time.time()

    def item_scraped(self, item: Any = None, response: Any = None, spider: Any = None) -> None:
        if self.figures is not None:
            self.figures.items += 1

    def spider_error(self, failure: Any = None, response: Any = None, spider: Any = None) -> None:
        if self.figures is not None:
            self.figures.errors["spider"] += 1

    def item_error(self, item: Any = None, response: Any = None, spider: Any = None, failure: Any = None) -> None:
        if self.figures is not None:
            self.figures.errors["item"] += 1

    def gate(self, site: str = "", outcome: str = "") -> None:
        if self.figures is not None and outcome in self.figures.gates:
            self.figures.gates[outcome] += 1
