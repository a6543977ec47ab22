"""``run_crawl``: crawl site profiles with Scrapy in this process and report what happened.

Twisted's reactor runs once per process, so ``run_crawl`` can be called once per process;
tests and tools that need several crawls run ``python -m crawlers.runner`` in a subprocess
(see :func:`main`), which prints the :class:`CrawlStats` as JSON.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from scrapy import signals
from scrapy.crawler import CrawlerProcess

from crawlers.crawllog import prepare_crawl_logging
from crawlers.profiles import find_profile, load_profile
from crawlers.profiles import profiles_dir as default_dir
from crawlers.progress import ProgressLine
from crawlers.settings import scrapy_settings
from crawlers.spiders.market import ForumSpider, MarketSpider
from crawlers.spiders.social import SocialSpider
from crawlers.spiders.telegram import TelegramSpider
from dragnet.documents import Listing
from dragnet.logs import configure_logging
from dragnet.settings import DragnetSettings, get_settings, use_settings

log = logging.getLogger(__name__)

SPIDER_KINDS = ("market", "forum", "social", "telegram")


@dataclass
class CrawlStats:
    """Per run: listings emitted, pages fetched, events by kind (gates, retries, traps, ...)."""

    items: int = 0
    pages: int = 0
    elapsed_s: float = 0.0
    pages_per_s: float = 0.0
    sites: dict[str, dict[str, Any]] = field(default_factory=dict)
    gated: list[str] = field(default_factory=list)
    out: str | None = None
    peak_rss_bytes: int | None = None  # this process's high-water mark (VmHWM; not inherited over exec)
    failures: dict[str, str] = field(default_factory=dict)  # site -> why it yielded no listings
    # site -> why its listings are not usable (a required field empty on most of them): a failure too
    incomplete: dict[str, str] = field(default_factory=dict)
    # site -> declared fields that matched on no listing at all (a likely wrong selector; not a failure)
    never_matched: dict[str, list[str]] = field(default_factory=dict)

    def failure_line(self) -> str:
        """One line saying why the crawl yielded nothing (empty when it yielded listings)."""
        if self.items:
            return ""
        reasons = "; ".join(f"{site}: {why}" for site, why in self.failures.items()) or "no site crawled"
        return f"no listings: {reasons}"

    def to_json(self) -> str:
        return json.dumps(asdict(self), default=str)


def resolve_targets(targets: list[str], profiles_dir: Path | None = None) -> list[Any]:
    """Profile names or paths; a spider kind (``market``, ``forum``, ``social``, ``telegram``) means every
    bundled profile of that kind except the hostile test site."""

    profiles = []
    for target in targets:
        if target in SPIDER_KINDS:
            directory = default_dir(profiles_dir)
            for path in sorted(directory.glob("*.yaml")):
                profile = load_profile(path)
                if profile.kind == target and profile.name != "hostile":
                    profiles.append(profile)
        else:
            profiles.append(find_profile(target, profiles_dir))
    if not profiles:
        raise ValueError(f"no site profiles match {targets}")
    return profiles


def spider_class(kind: str) -> type:
    if kind == "social":
        return SocialSpider

    return {"market": MarketSpider, "forum": ForumSpider, "telegram": TelegramSpider}[kind]


def profiled_spider(cls: type, profile: Any) -> type:
    """The spider class with the profile's politeness and depth as Scrapy per-spider settings
    (a market's pagination can be hundreds of pages deep; a forum wants a gentler rate)."""
    custom: dict[str, Any] = dict(getattr(cls, "custom_settings", None) or {})
    if profile.max_depth is not None:
        custom["DEPTH_LIMIT"] = profile.max_depth
    if profile.concurrency is not None:
        custom["CONCURRENT_REQUESTS_PER_DOMAIN"] = profile.concurrency
    if profile.delay_s is not None:
        custom["DOWNLOAD_DELAY"] = profile.delay_s
    return type(cls.__name__, (cls,), {"custom_settings": custom, "__module__": cls.__module__})


def run_crawl(
    targets: list[str],
    *,
    settings: DragnetSettings | None = None,
    proxy_url: str | None = None,
    sink: Callable[[list[Listing]], None] | None = None,
    out: Path | None = None,
    shared_frontier: bool = False,
    log_level: str | None = None,
    progress: bool | None = None,
) -> CrawlStats:
    """Crawl ``targets`` (profile names/paths or spider kinds) through ``proxy_url`` (Tor's
    SOCKS5h; ``None`` = direct) and hand listings to ``sink`` in batches (``None``: not handed
    on; the crawler knows nothing of the workers, the caller wires them in).  ``progress``: the
    progress line on stderr (default: unless the log level is above INFO, or the interval is 0)."""

    settings = settings or get_settings()
    use_settings(settings)
    profiles = resolve_targets(targets, settings.crawl.profiles_dir)
    proxy = proxy_url if proxy_url is not None else settings.tor.socks_url
    values = scrapy_settings(
        settings,
        proxy_url=proxy or None,
        out=str(out) if out else None,
        sink=sink,
        shared_frontier=shared_frontier,
        log_level=log_level,
    )
    prepare_crawl_logging(values)
    if progress is None:
        progress = logging.getLevelName(str(values["LOG_LEVEL"]).upper()) <= logging.INFO
    progress = progress and settings.crawl.progress_interval_s > 0
    process = CrawlerProcess(values)
    crawlers = []
    for profile in profiles:
        crawler = process.create_crawler(profiled_spider(spider_class(profile.kind), profile))
        crawlers.append((profile, crawler))
        process.crawl(crawler, profile=profile)
    line = None
    if progress:
        line = ProgressLine(
            lambda: [c.stats.get_stats() or {} for _, c in crawlers if c.stats is not None],
            settings.crawl.progress_interval_s,
        )
        for _, crawler in crawlers:  # started by the first engine that starts (the reactor runs)
            crawler.signals.connect(line.start, signal=signals.engine_started)
    started = time.monotonic()
    try:
        process.start()
    finally:
        if line is not None:
            line.stop()
    elapsed = time.monotonic() - started
    stats = CrawlStats(elapsed_s=round(elapsed, 3), out=str(out) if out else None)
    for profile, crawler in crawlers:
        values = {k: v for k, v in (crawler.stats.get_stats() or {}).items()}
        pages = int(values.get("response_received_count", 0))
        items = int(values.get("item_scraped_count", 0))
        stats.pages += pages
        stats.items += items
        stats.sites[profile.name] = {k: (v if isinstance(v, (int, float, str)) else str(v)) for k, v in values.items()}
        if values.get("dragnet/gate/paused"):
            stats.gated.append(profile.name)
        if not items:
            stats.failures[profile.name] = no_listings_reason(values, profile, proxy or None)
        elif profile.kind == "market":
            listings = int(values.get("dragnet/listings", items))
            reason = incomplete_reason(values, listings)
            if reason:
                stats.incomplete[profile.name] = reason
            declared = [*profile.fields, *(["offers"] if profile.offers is not None else [])]
            never = [n for n in declared if listings >= 5 and int(values.get(f"dragnet/empty/{n}", 0)) >= listings]
            if never:
                stats.never_matched[profile.name] = never
    stats.pages_per_s = round(stats.pages / elapsed, 1) if elapsed else 0.0
    stats.peak_rss_bytes = _peak_rss_bytes()
    return stats


def incomplete_reason(values: dict[str, Any], listings: int) -> str:
    """Why a market's listings are not usable although there are some: more than half of them
    without a price (the one field besides the title a market profile must read).  A quiet
    market still has prices; a selector copied from another site or a changed layout does not."""
    no_price = int(values.get("dragnet/empty/listing_price", 0))
    if listings and no_price * 2 > listings:
        return f"no price on {no_price} of {listings} listings (check fields.price or offers)"
    return ""


def no_listings_reason(values: dict[str, Any], profile: Any, proxy_url: str | None) -> str:
    """Why a site yielded no listings, from its crawl figures, in a few words an operator can act on."""
    pages = int(values.get("response_received_count", 0))
    if values.get("dragnet/gate/paused") or values.get("dragnet/skipped/paused"):
        return f"paused behind a gate that needs a human; resume with 'dragnet session import {profile.name} COOKIE'"
    if values.get("dragnet/gate/seen") and not values.get("dragnet/gate/solved"):
        return f"the gate was never passed ({values['dragnet/gate/seen']} gate pages)"
    if values.get("dragnet/refused/private_target") and not pages:
        return "every target refused as a private/loopback address (crawl.allowed_private_hosts)"
    error = str(values.get("dragnet/start/error") or "")
    if not pages and error:
        if proxy_url and any(
            kind in error.split(":", 1)[0] for kind in ("ConnectionRefused", "TCPTimedOut", "NoRoute")
        ):
            return f"the SOCKS proxy {proxy_url} is down or refused the connection (is Tor running?): {error}"
        if "SOCKS5" in error or error.startswith("SocksError"):
            return f"the onion is unreachable through the proxy: {error}"
        return f"the site is unreachable: {error}"
    if not pages:
        return "no page was fetched"
    no_title = int(values.get("dragnet/skipped/no_title", 0))
    if no_title and profile.kind == "market":
        title = profile.fields["title"]
        spelled = f"css {title.css!r}" if title.css is not None else f"xpath {title.xpath!r}"
        return f"the title rule ({spelled}) matched nothing on {no_title} detail pages"
    if profile.kind == "market":
        return f"no detail page among {pages} pages (check listing.links and listing.detail_url)"
    return f"no post among {pages} pages (check the posts selectors)"


def _peak_rss_bytes() -> int | None:
    """VmHWM from /proc (Linux).  ``ru_maxrss`` would include the parent's RSS at fork time."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


def main(argv: list[str] | None = None) -> None:
    """``python -m crawlers.runner TARGET... [--proxy URL] [--out FILE] [--shared-frontier]``:
    one crawl in a fresh process; prints the CrawlStats JSON as the last line.  Listings go to
    ``--out`` only (``dragnet crawl --json`` is the same crawl handed to the workers)."""

    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("targets", nargs="+")
    parser.add_argument("--proxy", default=None)
    parser.add_argument("--out", default=None)
    parser.add_argument("--shared-frontier", action="store_true")
    parser.add_argument("--log-level", default=None)
    args = parser.parse_args(argv)
    settings = get_settings()
    configure_logging(args.log_level or settings.log_level, settings.log_json)
    stats = run_crawl(
        args.targets,
        proxy_url=args.proxy,
        out=Path(args.out) if args.out else None,
        shared_frontier=args.shared_frontier,
        log_level=args.log_level,
    )
    sys.stdout.write("CRAWLSTATS " + stats.to_json() + "\n")


if __name__ == "__main__":
    main()
