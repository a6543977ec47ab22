"""The download handler of rendered crawls: scrapy-playwright's, so that a page rendered in
Chromium is a Scrapy request and response like any other and passes the same downloader
middlewares (address guard, trap caps, retry, sessions) and the same size cap.

* ``meta["playwright"]`` requests are rendered by scrapy-playwright (the browser and context
  from :func:`crawlers.browser.rendering_settings`);
* every other request goes to :class:`crawlers.socks.SocksDownloadHandler` (scrapy-playwright's
  own fallback is Scrapy's plain HTTP handler, which knows no SOCKS: a stray plain request of a
  rendered crawl would go direct);
* ``DOWNLOAD_MAXSIZE`` / ``meta["download_maxsize"]`` hold for the rendered page as for a
  fetched one: Scrapy's handler cancels a body over the cap, so does this one (same exception,
  same message), and ``DOWNLOAD_WARNSIZE`` warns the same way.  Chromium has read the page by
  then: the cap keeps an oversized DOM out of the spider, the WARC and the pipelines.
"""

from __future__ import annotations

import logging
from weakref import WeakKeyDictionary

from scrapy.crawler import Crawler
from scrapy.exceptions import DownloadCancelledError
from scrapy.http import Request, Response
from scrapy.utils._download_handlers import get_maxsize_msg, get_warnsize_msg
from scrapy_playwright.handler import ScrapyPlaywrightDownloadHandler

from crawlers.socks import SocksDownloadHandler

log = logging.getLogger(__name__)


class RenderingDownloadHandler(ScrapyPlaywrightDownloadHandler, SocksDownloadHandler):
    """scrapy-playwright for rendered requests; its ``super()`` fallback is the SOCKS handler.

    One instance per crawler for every scheme it is named for: Scrapy builds a handler per
    scheme, and each scrapy-playwright handler launches its own Chromium at engine start."""

    _shared: WeakKeyDictionary[Crawler, RenderingDownloadHandler] = WeakKeyDictionary()

    def __init__(self, crawler: Crawler) -> None:
        super().__init__(crawler)
        self._closed = False

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> RenderingDownloadHandler:
        handler = cls._shared.get(crawler)
        if handler is None:
            handler = cls._shared[crawler] = cls(crawler)
        return handler

    async def close(self) -> None:
        if self._closed:  # the same instance serves http and https: closed once
            return
        self._closed = True
        await super().close()

    async def download_request(self, request: Request) -> Response:
        response = await super().download_request(request)
        if request.meta.get("playwright"):
            self._check_size(request, response)
        return response

    def _check_size(self, request: Request, response: Response) -> None:
        size = len(response.body)
        maxsize = request.meta.get("download_maxsize", self._default_maxsize)
        warnsize = request.meta.get("download_warnsize", self._default_warnsize)
        if maxsize and size > maxsize:
            message = get_maxsize_msg(size, maxsize, request, expected=False)
            log.warning("%s (rendered page)", message)
            self.stats.inc_value("dragnet/refused/rendered_too_large")
            raise DownloadCancelledError(message)
        if warnsize and size > warnsize:
            log.warning("%s (rendered page)", get_warnsize_msg(size, warnsize, request, expected=False))
