"""The social spider: renders a JavaScript timeline in Chromium through scrapy-playwright, scrolls
until nothing new arrives (or the cap), and emits one Listing per post, each with its own
evidence.

Each start page is one Scrapy request with ``meta["playwright"]``: it passes the downloader
middlewares like a market page (address guard, trap caps, retry, sessions) and the size cap
(:mod:`crawlers.rendering`); Chromium, hardened and locked to the proxy, comes from
:func:`crawlers.browser.rendering_settings`, which :meth:`SocialSpider.update_settings` puts
under this spider only.  The scrolling and the reading of posts run inside the download as a
page coroutine (:func:`read_timeline`, a scrapy-playwright ``PageMethod``), so the page is
closed when the response reaches :meth:`SocialSpider.parse`.

Evidence: the rendered page gets its ``response`` record (``Dragnet-Rendered-By``); each post
gets a ``resource`` record under its own URL holding the post element's HTML, referring to the
page's record, a ``metadata`` record (what was read), and a PNG screenshot of the post element
as a ``conversion`` record; the listing's ``snapshot`` is the post's record and its
``screenshot_sha256`` the post's screenshot (also kept under ``evidence/screenshots/``).
"""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import urljoin

import scrapy
from scrapy.http import Response
from scrapy.settings import BaseSettings

from crawlers.browser import CONTEXT, hardened_args, rendering_settings, sandbox_support
from crawlers.spiders.market import ProfileSpider
from dragnet.documents import Listing
from dragnet.settings import get_settings
from extract.text import normalize_text

__all__ = ["SocialSpider", "hardened_args", "read_timeline", "sandbox_support"]

# One post element as read in the page: its link, author, text and HTML (cut in the page, so
# that a hostile page cannot hand back more than the caps).
_READ_POST = """(el, rule) => {
  const u = el.querySelector(rule.url), a = el.querySelector(rule.author), t = el.querySelector(rule.text);
  const cut = (s, n) => (s || '').slice(0, n);
  return {url: u ? cut(u.getAttribute('href'), 2000) : null, author: a ? cut(a.textContent, 500) : null,
          text: t ? cut(t.textContent, rule.max_chars) : '', html: cut(el.outerHTML, rule.max_chars)};
}"""
_STATUS = "() => { const n = performance.getEntriesByType('navigation')[0]; return (n && n.responseStatus) || 0; }"
_COUNT = "(sel) => document.querySelectorAll(sel).length"
_ENDED = "() => document.body !== null && document.body.dataset.end === '1'"
_GREW = "([sel, n]) => document.querySelectorAll(sel).length > n || document.body.dataset.end === '1'"


async def read_timeline(page: Any, rule: dict[str, Any], max_scrolls: int, caps: dict[str, int]) -> dict[str, Any]:
    """Scroll ``page`` until the timeline ends (``body[data-end=1]``), stops growing twice, or
    ``max_scrolls``; then read every post element (at most ``caps["posts"]``) and screenshot it
    (none for an element over ``caps["px"]`` either way).  Runs in the download, on the page."""
    count, stalls, scrolls, batches = 0, 0, 0, 0
    if await page.evaluate(_STATUS) >= 400:  # an error page (retried, or dropped): nothing to scroll
        return {"posts": [], "scrolls": 0, "batches": 0, "screenshots_skipped": 0}
    while scrolls < max_scrolls:
        try:
            await page.wait_for_function(_GREW, arg=[rule["container"], count], timeout=3000)
        except Exception:  # noqa: BLE001 - Playwright's TimeoutError: nothing new this round
            stalls += 1
        now = await page.evaluate(_COUNT, rule["container"])
        ended = await page.evaluate(_ENDED)
        if now > count:
            stalls = 0
            batches += 1
        count = now
        if ended or stalls >= 2 or count >= caps["posts"]:
            break
        await page.evaluate("() => window.scrollTo(0, document.body.scrollHeight)")
        scrolls += 1
    posts: list[dict[str, Any]] = []
    skipped = 0
    seen: set[str] = set()
    read_rule = {**rule, "max_chars": caps["chars"]}
    for element in (await page.query_selector_all(rule["container"]))[: caps["posts"]]:
        post = await element.evaluate(_READ_POST, read_rule)
        if not post.get("url") or post["url"] in seen:
            continue
        seen.add(post["url"])
        post["png"] = None
        box = await element.bounding_box()
        if box and 0 < box["width"] <= caps["px"] and 0 < box["height"] <= caps["px"]:
            try:
                post["png"] = await element.screenshot(type="png", timeout=10_000)
            except Exception:  # noqa: BLE001 - a post that detaches or never paints keeps its HTML record
                skipped += 1
        else:
            skipped += 1
        posts.append(post)
    return {"posts": posts, "scrolls": scrolls, "batches": batches, "screenshots_skipped": skipped}


class SocialSpider(ProfileSpider):
    name = "social"
    kind = "social"

    @classmethod
    def update_settings(cls, settings: BaseSettings) -> None:
        """scrapy-playwright's handler, Chromium and its context for this spider's crawler only."""
        super().update_settings(settings)
        settings.setdict(rendering_settings(get_settings(), settings.get("DRAGNET_SOCKS_URL")), priority="spider")

    async def start(self) -> AsyncIterator[Any]:
        sandbox, why = self.crawler.settings.get("DRAGNET_CHROMIUM_SANDBOX") or (False, "unknown")
        self.crawler.stats.set_value("dragnet/social/sandbox", "on" if sandbox else "off")
        if sandbox:
            self.logger.info("Chromium sandbox on (%s)", why)
        else:
            self.logger.warning("Chromium sandbox off: %s", why)
        async for request in super().start():
            yield request

    def start_request(self, url: str, *, dont_filter: bool, meta: dict[str, Any] | None = None) -> scrapy.Request:
        # scrapy-playwright (Playwright under it): loaded only by a crawl that renders pages
        from scrapy_playwright.page import PageMethod

        browser = self.settings_obj.browser
        caps = {
            "posts": browser.max_posts_per_page,
            "chars": browser.max_post_html_bytes,
            "px": browser.max_screenshot_px,
        }
        max_scrolls = self.profile.max_scrolls or browser.max_scrolls
        rendered: dict[str, Any] = {
            "playwright": True,
            "playwright_context": CONTEXT,
            "playwright_page_goto_kwargs": {"wait_until": "load"},
            "playwright_page_methods": [
                PageMethod(read_timeline, self.post_rule().model_dump(), max_scrolls, caps),
            ],
        }
        proxy = self.crawler.settings.get("DRAGNET_CHROMIUM_PROXY")
        if proxy:
            # The route the page takes is the browser context's proxy, without SOCKS credentials:
            # the WARC records that (no circuit isolation), and the Tor middleware leaves it be.
            rendered["socks_proxy"] = proxy
        return super().start_request(url, dont_filter=dont_filter, meta={**(meta or {}), **rendered})

    async def parse(self, response: Response, **kwargs: Any) -> AsyncIterator[Any]:
        stats = self.crawler.stats
        methods = response.meta.get("playwright_page_methods") or []
        result = methods[0].result if methods and isinstance(methods[0].result, dict) else None
        if result is None:
            stats.inc_value("dragnet/social/unread_pages")
            self.logger.warning("%s: the timeline was not read (no page coroutine result)", response.url)
            return
        stats.set_value("dragnet/social/scrolls", max(result["scrolls"], stats.get_value("dragnet/social/scrolls", 0)))
        stats.inc_value("dragnet/social/batches", result["batches"])
        stats.inc_value("dragnet/social/screenshots_skipped", result["screenshots_skipped"])
        page = self.snapshot(response)
        seen: set[str] = set()
        for post in result["posts"]:
            listing = self._post(response, post, page.record_id, seen)
            if listing is not None:
                stats.inc_value("dragnet/listings")
                yield listing

    def _post(self, response: Response, post: dict[str, Any], page_record_id: str, seen: set[str]) -> Listing | None:
        text = normalize_text(post.get("text") or "")
        if not post.get("url") or not text:
            return None
        post_url = self.canonical(urljoin(response.url, post["url"]))
        if post_url in seen or not self.on_site(post_url):
            return None
        seen.add(post_url)
        author = normalize_text(post.get("author") or "").lstrip("@") or None
        png: bytes | None = post.get("png")
        shot_sha = hashlib.sha256(png).hexdigest() if png else None
        if png and shot_sha:
            shots = self.settings_obj.paths.evidence_dir / "screenshots"
            shots.mkdir(parents=True, exist_ok=True)
            (shots / f"{shot_sha}.png").write_bytes(png)
        listing = self.post_listing(post_url, "social", text, author, response.url, screenshot_sha256=shot_sha)
        metadata: dict[str, object] = {
            "author": author,
            "page": response.url,
            "content_sha256": listing.content_sha256,
            "screenshot_sha256": shot_sha,
        }
        listing.snapshot = self.warc.write_excerpt(
            post_url,
            str(post.get("html") or "").encode("utf-8"),
            page_record_id=page_record_id,
            page_url=response.url,
            metadata=metadata,
            screenshot=png,
        )
        return listing
