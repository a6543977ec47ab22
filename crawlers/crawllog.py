"""How a crawl logs: every record once, listings at DEBUG, Scrapy's start-up banners only when
debugging.

A crawl started by the ``dragnet`` command already has Dragnet's handler on the root logger
(:func:`dragnet.logs.configure_logging`); Scrapy would add its own beside it and every line
would print twice, so Scrapy's is installed only where no Dragnet handler is.  Scrapy logs each
scraped item whole at DEBUG; a listing carries its page text, so even at DEBUG it is a one-line
"scraped URL" here, never the item's contents (scraped text is hostile and large)."""

from __future__ import annotations

import logging
from typing import Any

from scrapy.logformatter import LogFormatter, LogFormatterResult

from dragnet.logs import dragnet_handler, set_log_level

# Scrapy's per-spider start-up and shut-down reports (versions, enabled middlewares, overridden
# settings, the stats dump): several dozen lines per site, useful when debugging only.
BANNER_LOGGERS = ("scrapy.utils.log", "scrapy.addons", "scrapy.middleware", "scrapy.crawler", "scrapy.statscollectors")


class BannerFilter(logging.Filter):
    """Keeps Scrapy's banners (records below WARNING from :data:`BANNER_LOGGERS`) off a handler.
    A filter, not logger levels: Scrapy's own logging set-up resets its child loggers' levels."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno >= logging.WARNING or not record.name.startswith(BANNER_LOGGERS)


class QuietLogFormatter(LogFormatter):
    """``LOG_FORMATTER`` of the crawlers: a scraped listing is one DEBUG line with its URL."""

    def scraped(self, item: Any, response: Any, spider: Any) -> LogFormatterResult:
        url = item.get("url") if isinstance(item, dict) else getattr(item, "url", None)
        source = getattr(response, "url", None) or "?"
        return {
            "level": logging.DEBUG,
            "msg": "scraped %(url)s from %(source)s",
            "args": {"url": str(url or "?")[:300], "source": str(source)[:300]},
        }


def prepare_crawl_logging(values: dict[str, Any]) -> None:
    """Adjust one run's Scrapy settings (``values``) and the process's loggers before the
    ``CrawlerProcess`` is made, so that each record is printed once at the run's level."""

    level = str(values.get("LOG_LEVEL") or "INFO").upper()
    debugging = logging.getLevelName(level) <= logging.DEBUG
    values["STATS_DUMP"] = debugging  # the figures are in CrawlStats and the run log either way
    handler = dragnet_handler()
    if handler is None:
        return  # Scrapy's own root handler, as Scrapy sets it up
    values["LOG_INSTALL_ROOT_HANDLER"] = False
    set_log_level(level)
    for old in [f for f in handler.filters if isinstance(f, BannerFilter)]:
        handler.removeFilter(old)
    if not debugging:
        handler.addFilter(BannerFilter())
