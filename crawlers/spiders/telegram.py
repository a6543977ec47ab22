"""The telegram spider: public channels through their web preview (``https://t.me/s/<channel>``).

Per channel it reads the newest page, then pages backwards (``?before=<oldest id on the page>``)
until the channel's first message or ``max_pages``, and emits one Listing per message, keyed by
the message's own URL ``https://t.me/<channel>/<id>`` (platform ``telegram``, source kind
``social``).  Each message gets its own evidence: a WARC ``resource`` record labelled with the
message URL holding its HTML block, referring to the page's ``response`` record, and a
``metadata`` record with what was read (date, views, edited, links, media).

A message whose text changed since the last crawl is the same listing id with a new content
hash, so the version pipeline makes it a new version (``dragnet/telegram/edited`` counts them).
Date and views, which a Listing has no field for, are kept in the message ledger
(:class:`crawlers.telegram.TelegramState`), which also notices deletions: a message seen before
whose id lies inside the range a crawl read again, and that is no longer there, is marked
deleted, logged and counted (``dragnet/telegram/deleted``).  No tombstone Listing is emitted:
a deletion is not a new version of the text.

The pages are hostile: everything read is capped (messages per page, text, links, media,
pages per channel), ids must be the page's own channel's and strictly go backwards, and the next
page's URL is built from the id, never taken from the page.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

import scrapy
from scrapy.http import Response

from crawlers.spiders.market import ProfileSpider
from crawlers.telegram import Seen, TelegramState
from dragnet.documents import Listing, Vendor
from extract.contacts import extract_contacts
from extract.crypto import extract_crypto
from extract.pgp import extract_pgp_fingerprints
from extract.text import normalize_text

PUBLIC_BASE = "https://t.me"
MAX_MESSAGES_PER_PAGE = 100
MAX_LINKS = 50
MAX_MEDIA = 20
MAX_BLOCK_BYTES = 256 * 1024
_BG_URL = re.compile(r"background-image\s*:\s*url\(\s*['\"]?([^'\")]{1,2000})['\"]?\s*\)")
_VIEWS = re.compile(r"^\s*(\d{1,9}(?:[.,]\d{1,3})?)\s*([KkMm]?)\s*$")


def parse_views(label: str | None) -> int | None:
    """``"987"`` -> 987, ``"1.2K"`` -> 1200, ``"3.4M"`` -> 3400000; anything else None."""
    match = _VIEWS.match(label or "")
    if not match:
        return None
    number, unit = match.groups()
    if not unit:
        return int(number.replace(",", "").replace(".", ""))
    value = float(number.replace(",", "."))
    return int(round(value * (1_000_000 if unit in "Mm" else 1000)))


def message_text(block: Any) -> str:
    """The message text with ``<br>`` as line breaks, scripts and styles left out."""
    parts = []
    for node in block.xpath(".//text()[not(ancestor::script or ancestor::style)] | .//br"):
        value = node.get()
        parts.append("\n" if value.startswith("<br") else value)
    return "".join(parts)


class TelegramSpider(ProfileSpider):
    name = "telegram"
    kind = "telegram"
    # Each older page is one level deeper: the depth of a channel is bounded by max_pages
    # (crawl.telegram_max_pages), not by crawl.max_depth (a profile's max_depth still wins).
    custom_settings = {"DEPTH_LIMIT": 0}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        base = self.profile.start_urls[0]
        self.base = base if base.endswith("/") else base + "/"
        crawl = self.settings_obj.crawl
        self.max_pages = self.profile.max_pages or crawl.telegram_max_pages
        self.max_text = crawl.telegram_max_text_chars
        self.state = TelegramState()
        self.present: dict[str, set[int]] = {}

    def channels(self) -> list[str]:
        names = list(self.profile.channels)
        if self.profile.directory:
            names += [s.name for s in self.state.due_sources("telegram")]
        return list(dict.fromkeys(names))

    def page_url(self, channel: str, before: int | None = None) -> str:
        return f"{self.base}{channel}" + (f"?before={before}" if before is not None else "")

    async def start(self) -> AsyncIterator[Any]:
        channels = self.channels()
        if not channels:
            self.logger.warning("%s: no channel to crawl (none listed, none due in the directory)", self.profile.name)
        for channel in channels:
            self.present[channel] = set()
            yield self._request(channel, None, 1)

    def _request(self, channel: str, before: int | None, page: int) -> scrapy.Request:
        return scrapy.Request(
            self.page_url(channel, before),
            callback=self.parse,
            errback=self.channel_failed,
            dont_filter=True,
            meta={"tg_channel": channel, "tg_page": page, "tg_before": before},
        )

    def channel_failed(self, failure: Any) -> None:
        meta = failure.request.meta
        self.page_failed(failure)
        if meta["tg_page"] == 1:
            self.crawler.stats.set_value(
                "dragnet/start/error", f"{failure.type.__name__}: {failure.getErrorMessage()}"[:300]
            )
            return
        self._finish(meta["tg_channel"], reached_start=False)

    async def parse(self, response: Response, **kwargs: Any) -> AsyncIterator[Any]:
        channel = response.meta["tg_channel"]
        page = response.meta["tg_page"]
        before = response.meta["tg_before"]
        stats = self.crawler.stats
        if not hasattr(response, "css"):
            stats.inc_value("dragnet/skipped/not_html")
            self._finish(channel, reached_start=False)
            return
        found = response.css("div.tgme_widget_message[data-post]")
        if len(found) > MAX_MESSAGES_PER_PAGE:
            stats.inc_value("dragnet/telegram/capped_pages")
        blocks = list(found)[:MAX_MESSAGES_PER_PAGE]
        if page == 1:
            title = normalize_text(" ".join(response.css("div.tgme_channel_info_header_title ::text").getall()))
            self.logger.info("telegram channel %s (%s)", channel, title[:200])
        page_snapshot = self.snapshot(response) if blocks else None
        ids: list[int] = []
        for block in blocks:
            listing = self._message(channel, block, response, page_snapshot, before)
            if listing is not None:
                ids.append(int(listing.canonical_url.rsplit("/", 1)[1]))
                yield listing
        stats.inc_value("dragnet/telegram/pages")
        older = (
            response.css('link[rel="prev"]::attr(href)').get()
            or response.css("a.tme_messages_more::attr(data-before)").get()
        )
        if not ids:
            self._finish(channel, reached_start=False)
            return
        oldest = min(ids)
        if not older:
            self._finish(channel, reached_start=True)
            return
        if page >= self.max_pages:
            stats.inc_value("dragnet/telegram/depth_reached")
            self.logger.info("%s: stopped at %d pages (max_pages), oldest message %d", channel, page, oldest)
            self._finish(channel, reached_start=False)
            return
        yield self._request(channel, oldest, page + 1)

    def _message(
        self, channel: str, block: Any, response: Response, page_snapshot: Any, before: int | None
    ) -> Listing | None:
        stats = self.crawler.stats
        post = block.attrib.get("data-post", "")
        owner, _, raw_id = post.partition("/")
        if owner.lower() != channel or not raw_id.isdigit() or len(raw_id) > 12:
            stats.inc_value("dragnet/telegram/foreign_posts")
            return None
        msg_id = int(raw_id)
        if before is not None and msg_id >= before:
            stats.inc_value("dragnet/telegram/out_of_order")  # a page that does not go backwards
            return None
        if msg_id in self.present[channel]:
            stats.inc_value("dragnet/telegram/repeated")
            return None
        self.present[channel].add(msg_id)
        text_node = block.css("div.tgme_widget_message_text")
        raw_text = message_text(text_node[0]) if text_node else ""
        text = normalize_text(raw_text[: self.max_text * 2])[: self.max_text]
        links = [
            href
            for href in text_node.css("a::attr(href)").getall()[: MAX_LINKS * 2]
            if href.startswith(("http://", "https://", "tg://"))
        ][:MAX_LINKS]
        media = []
        for style in block.css("a.tgme_widget_message_photo_wrap::attr(style)").getall()[:MAX_MEDIA]:
            found = _BG_URL.search(style)
            if found:
                media.append(found.group(1))
        raw_date = block.css("a.tgme_widget_message_date time::attr(datetime)").get()
        try:
            date = datetime.fromisoformat(raw_date).isoformat() if raw_date else None
        except ValueError:
            date = None
        views = parse_views(block.css("span.tgme_widget_message_views::text").get())
        meta_text = " ".join(block.css("span.tgme_widget_message_meta ::text").getall()[:20])
        edited = "edited" in meta_text.lower()
        url = f"{PUBLIC_BASE}/{channel}/{msg_id}"
        html = block.get().encode("utf-8")[:MAX_BLOCK_BYTES]
        listing = Listing.new(
            url,
            source_kind="social",
            title="",
            text=text,
            platform="telegram",
            mirror=urlsplit(response.url).hostname,
            vendor=Vendor(name=channel, market="telegram"),
            # A mention in a Telegram message is always a link to t.me/<handle>: read the links
            # too, so that "Orders: @shop_bot" is a Telegram contact without the word "telegram".
            contacts=extract_contacts(f"{text}\n" + " ".join(links)),
            crypto=extract_crypto(text),
            pgp_fingerprints=extract_pgp_fingerprints(text),
            images=media,
        )
        metadata = {
            "channel": channel,
            "message_id": msg_id,
            "date": date,
            "views": views,
            "edited": edited,
            "links": links,
            "media": media,
            "page": response.url,
            "content_sha256": listing.content_sha256,
        }
        listing.snapshot = self.warc.write_excerpt(
            url, html, page_record_id=page_snapshot.record_id, page_url=response.url, metadata=metadata
        )
        outcome = self.state.observe(
            Seen(channel, msg_id, url, listing.content_sha256, date, views, edited, links, media)
        )
        stats.inc_value(f"dragnet/telegram/{outcome}")
        if outcome == "edited":
            self.logger.info("telegram: message %s edited since the last crawl (new version)", url)
        stats.inc_value("dragnet/listings")
        return listing

    def _finish(self, channel: str, *, reached_start: bool) -> None:
        """A channel's pages are read: messages seen before in the range read again, and gone now,
        are deletions.  The range runs from the newest message (the first page has no upper
        bound) down to the channel's first message, or the oldest one read when the crawl stopped
        short of it."""
        present = self.present.get(channel, set())
        if not present:
            return
        low = 0 if reached_start else min(present)
        gone = self.state.sweep_deleted(channel, low, None, present)
        stats = self.crawler.stats
        for _, url in gone:
            self.logger.warning("telegram: message %s deleted (not on the re-crawled pages of %s)", url, channel)
        if gone:
            stats.inc_value("dragnet/telegram/deleted", len(gone))
            listed = str(stats.get_value("dragnet/telegram/deleted_urls") or "")
            urls = ",".join(url for _, url in gone)
            stats.set_value("dragnet/telegram/deleted_urls", (f"{listed},{urls}" if listed else urls)[:4000])
        stats.inc_value("dragnet/telegram/channels")
        self.state.mark_crawled("telegram", channel)

    def closed(self, reason: str) -> None:
        super().closed(reason)
        self.state.close()
