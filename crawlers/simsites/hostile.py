"""A hostile onion site: every trap a crawler meets, each behind one link of an ordinary index.

``/bomb`` (gzip decompression bomb), ``/huge`` (a 50 MB page), ``/loop/N`` (endless redirects),
``/calendar/DATE`` (infinite "next day" pagination), ``/malformed`` (broken HTML that still holds a
listing), ``/drip`` (a response that trickles one byte at a time), and ordinary listings
``/item/ok-N`` that the crawl must still collect.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import zlib
from collections import Counter
from html import escape
from typing import Any

from aiohttp import web

from crawlers.simsites.addressing import OnionAddresses

TRAPS = ("/bomb", "/huge", "/loop/1", "/drip", "/malformed")
OK_ITEMS = 3


def _gzip_bomb(decompressed_bytes: int) -> bytes:
    compressor = zlib.compressobj(9, zlib.DEFLATED, 31)  # 31: gzip container
    chunk = b"\0" * (1 << 20)
    parts = [compressor.compress(chunk) for _ in range(decompressed_bytes >> 20)]
    parts.append(compressor.flush())
    return b"".join(parts)


class HostileSite(OnionAddresses):
    kind = "market"
    name = "hostile"

    def __init__(
        self, onion_hosts: list[str], *, huge_bytes: int = 50 * 1024 * 1024, bomb_bytes: int = 64 * 1024 * 1024
    ) -> None:
        self.onion_hosts = onion_hosts
        self.huge_bytes = huge_bytes
        self.bomb_bytes = bomb_bytes
        self._bomb: bytes = _gzip_bomb(bomb_bytes)  # ~64 KB on the wire, 64 MB once inflated
        self.port = 0
        self.stats: Counter[str] = Counter()

    def ground_truth(self) -> list[dict[str, Any]]:
        truth = [
            {
                "url": f"{self.base_url}/item/ok-{n}",
                "title": f"Ordinary listing {n}",
                "price": {"amount": 10.0 * n, "currency": "USD"},
            }
            for n in range(1, OK_ITEMS + 1)
        ]
        truth.append(
            {
                "url": f"{self.base_url}/malformed",
                "title": "Malformed but readable",
                "price": {"amount": 42.0, "currency": "USD"},
            }
        )
        return truth

    def app(self) -> web.Application:
        app = web.Application()
        app.add_routes(
            [
                web.get("/", self._index),
                web.get("/item/{name}", self._item),
                web.get("/bomb", self._bomb_page),
                web.get("/huge", self._huge),
                web.get("/loop/{n}", self._loop),
                web.get("/calendar/{day}", self._calendar),
                web.get("/malformed", self._malformed),
                web.get("/drip", self._drip),
            ]
        )
        return app

    @staticmethod
    def _html(title: str, body: str) -> web.Response:
        return web.Response(
            text=f"<html><head><title>{escape(title)}</title></head><body>{body}</body></html>",
            content_type="text/html",
        )

    async def _index(self, request: web.Request) -> web.Response:
        self.stats["index"] += 1
        links = [f"/item/ok-{n}" for n in range(1, OK_ITEMS + 1)] + list(TRAPS)
        rows = "".join(f"<tr><td><a class='item-link' href='{u}'>{u}</a></td></tr>" for u in links)
        return self._html(
            "Hostile index",
            f"<table class='listings'>{rows}</table><a class='next' href='/calendar/2026-01-01'>Next</a>",
        )

    async def _item(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        if not name.startswith("ok-"):
            raise web.HTTPNotFound()
        n = int(name[3:])
        self.stats["item"] += 1
        return self._html(
            f"Ordinary listing {n}",
            f"<div id='listing'><h1 class='title'>Ordinary listing {n}</h1>"
            f"<span class='fiat'>USD {10.0 * n:.2f}</span>"
            f"<div class='description'>Plain item number {n}.</div></div>",
        )

    async def _bomb_page(self, request: web.Request) -> web.Response:
        self.stats["bomb"] += 1
        return web.Response(body=self._bomb, headers={"Content-Encoding": "gzip", "Content-Type": "text/html"})

    async def _huge(self, request: web.Request) -> web.StreamResponse:
        self.stats["huge"] += 1
        response = web.StreamResponse(headers={"Content-Type": "text/html"})
        await response.prepare(request)
        chunk = b"<p>" + b"A" * (256 * 1024 - 7) + b"</p>\n"
        sent = 0
        try:
            while sent < self.huge_bytes:
                await response.write(chunk)
                sent += len(chunk)
        except (ConnectionError, asyncio.CancelledError):
            self.stats["huge_aborted"] += 1
        return response

    async def _loop(self, request: web.Request) -> web.Response:
        self.stats["loop"] += 1
        n = int(request.match_info["n"])
        raise web.HTTPFound(f"/loop/{(n % 3) + 1}?hop={request.query.get('hop', '0')}x")

    async def _calendar(self, request: web.Request) -> web.Response:
        self.stats["calendar"] += 1
        try:
            day = dt.date.fromisoformat(request.match_info["day"])
        except ValueError:
            raise web.HTTPNotFound() from None
        nxt, prev = day + dt.timedelta(days=1), day - dt.timedelta(days=1)
        return self._html(
            f"Events {day}",
            f"<p>No events on {day}.</p><a class='next' href='/calendar/{nxt}'>Next"
            f"</a> <a href='/calendar/{prev}'>Prev</a>",
        )

    async def _malformed(self, request: web.Request) -> web.Response:
        self.stats["malformed"] += 1
        body = (
            "<html><head><title>x</title><body><div id='listing'><h1 class='title'>Malformed but readable"
            "<span class='fiat'>USD 42.00</span><table><tr><td>unclosed <b><i>nest"
            "<div class='description'>Broken <markup & stray < signs <<<>>> and no closing tags"
            "<script>while(true){}</script><!-- unterminated comment"
        )
        return web.Response(text=body, content_type="text/html")

    async def _drip(self, request: web.Request) -> web.StreamResponse:
        self.stats["drip"] += 1
        response = web.StreamResponse(headers={"Content-Type": "text/html", "Content-Length": "100000"})
        await response.prepare(request)
        try:
            for _ in range(100000):
                await response.write(b"<")
                await asyncio.sleep(0.5)
        except (ConnectionError, asyncio.CancelledError):
            self.stats["drip_aborted"] += 1
        return response
