"""Scrapy settings of the Dragnet crawler project.  Values that an operator tunes come from the
one Dragnet settings object (``dragnet.settings``); :func:`scrapy_settings` builds the Scrapy
settings for one run from it.  ``scrapy.cfg`` points here for ``scrapy list`` / ``scrapy crawl``."""

from __future__ import annotations

from typing import Any

from crawlers import frontier
from dragnet.broker import outage_params

BOT_NAME = "dragnet"
SPIDER_MODULES = ["crawlers.spiders"]
NEWSPIDER_MODULE = "crawlers.spiders"
ROBOTSTXT_OBEY = False  # markets are crawled under a legal mandate; politeness is per-host limits
TWISTED_REACTOR = "twisted.internet.asyncioreactor.AsyncioSelectorReactor"
COOKIES_ENABLED = True
TELNETCONSOLE_ENABLED = False
REDIRECT_MAX_TIMES = 5
METAREFRESH_ENABLED = False
LOG_LEVEL = "INFO"
# Scrapy runs one asyncio worker per concurrent item for every callback's output; a detail page
# yields one listing, so 100 workers per response only burn CPU (halves throughput, measured).
CONCURRENT_ITEMS = 8

DOWNLOAD_HANDLERS = {
    "http": "crawlers.socks.SocksDownloadHandler",
    "https": "crawlers.socks.SocksDownloadHandler",
}
DOWNLOADER_MIDDLEWARES = {
    "crawlers.middlewares.SafetyMiddleware": 50,
    "crawlers.middlewares.TorProxyMiddleware": 100,
    "scrapy.downloadermiddlewares.retry.RetryMiddleware": None,
    "crawlers.middlewares.BackoffRetryMiddleware": 550,
    "crawlers.middlewares.SessionMiddleware": 650,
}
ITEM_PIPELINES = {
    "crawlers.pipelines.NormalizePipeline": 100,
    "crawlers.pipelines.VersionPipeline": 200,
    "crawlers.pipelines.JsonLinesPipeline": 800,
    "crawlers.pipelines.HandoffPipeline": 900,
}
EXTENSIONS = {
    "crawlers.frontier.SharedFrontierIdle": 500,
    "crawlers.metrics.CrawlMetrics": 510,
    # a "Crawled N pages" line per site per minute; the run's one progress line replaces it
    "scrapy.extensions.logstats.LogStats": None,
}
# a scraped listing is a one-line DEBUG record with its URL, never the whole item
LOG_FORMATTER = "crawlers.crawllog.QuietLogFormatter"


def scrapy_settings(
    settings: Any,
    *,
    proxy_url: str | None,
    out: str | None = None,
    sink: Any = None,
    shared_frontier: bool = False,
    log_level: str | None = None,
) -> dict[str, Any]:
    """Scrapy settings for one run, derived from the Dragnet settings object."""
    crawl = settings.crawl
    values: dict[str, Any] = {k: v for k, v in globals().items() if k.isupper()}
    values.update(
        {
            "USER_AGENT": crawl.user_agent,
            "CONCURRENT_REQUESTS": crawl.concurrent_requests,
            "CONCURRENT_REQUESTS_PER_DOMAIN": crawl.concurrent_requests_per_host,
            "DOWNLOAD_DELAY": crawl.download_delay_s,
            "DOWNLOAD_TIMEOUT": crawl.download_timeout_s,
            "DOWNLOAD_MAXSIZE": crawl.max_response_bytes,
            "DOWNLOAD_WARNSIZE": crawl.warn_response_bytes,
            "DEPTH_LIMIT": crawl.max_depth,
            "DRAGNET_SOCKS_URL": proxy_url or "",
            "DRAGNET_OUT": out,
            "DRAGNET_SINK": sink,
            "DRAGNET_METRICS_PORT": crawl.metrics_port,
            "DRAGNET_METRICS_HOST": crawl.metrics_host,
            "DRAGNET_METRICS_TEXTFILE": str(crawl.metrics_textfile) if crawl.metrics_textfile else None,
            "DRAGNET_CRAWL_RUNS": str(settings.paths.crawl_runs_file),
            "LOG_LEVEL": log_level or settings.log_level,
        }
    )
    if shared_frontier:
        if not settings.redis.url:
            raise ValueError("a shared frontier needs redis.url (DRAGNET_REDIS__URL)")
        values.update(
            {
                "SCHEDULER": "scrapy_redis.scheduler.Scheduler",
                "DUPEFILTER_CLASS": "crawlers.frontier.FreshnessDupeFilter",
                "SCHEDULER_PERSIST": True,
                "SCHEDULER_QUEUE_CLASS": "scrapy_redis.queue.PriorityQueue",
                "SCHEDULER_QUEUE_KEY": frontier.FRONTIER_QUEUE_KEY,
                "REDIS_URL": settings.redis.url,
                # the queue and the dupefilter wait out a broker restart: a failed push or
                # SET NX drops the request, a failed pop stalls the engine for good
                "REDIS_PARAMS": {"socket_timeout": 30, "socket_connect_timeout": 30, **outage_params()},
                "DRAGNET_FRONTIER_REDIS": settings.redis.url,
                "DRAGNET_RECRAWL_AFTER_S": crawl.recrawl_after_s,
                # A process takes from the shared queue only what it can download now, so that
                # the other processes find work in it.
                "CONCURRENT_REQUESTS": min(crawl.concurrent_requests, crawl.concurrent_requests_per_host),
            }
        )
    return values
