"""A simulated onion marketplace (two HTML styles), served by aiohttp on loopback.

What a real market does to a crawler, it does here: an anti-DDoS or captcha gate on the first
visit, a login form with a session cookie that expires after some page views, 429 with
``Retry-After`` and occasional 5xx on the first attempt at some pages, two mirror names, and a
PGP-signed ``mirrors.txt``.  Everything it serves is in :meth:`MarketSite.ground_truth`.
Scraped text is escaped on the way out, as on any site built with a template engine.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import zlib
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from html import escape
from typing import Any
from urllib.parse import quote

import pgpy
from aiohttp import web

from crawlers.simsites.addressing import OnionAddresses
from crawlers.simsites.data import MarketData, MarketItem, _slug, new_pgp_key

USERNAME = "dragnet-research"
PASSWORD = "correct-horse-battery"


@dataclass
class Faults:
    """Deterministic failures on the first attempt at some pages (by CRC of the path)."""

    enabled: bool = True
    rate_limit_every: int = 17  # 429 + Retry-After
    server_error_every: int = 23  # 500 / 502 / 503
    retry_after_s: int = 1
    session_views: int = 40  # a session cookie dies after this many page views


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class MarketSite(OnionAddresses):
    """One market.  ``style`` is ``"table"`` (auto-solvable anti-DDoS gate, USD/BTC) or
    ``"cards"`` (human captcha gate, EUR/XMR)."""

    kind = "market"

    def __init__(
        self,
        name: str,
        style: str,
        data: MarketData,
        onion_hosts: list[str],
        *,
        title: str,
        faults: Faults | None = None,
        page_size: int = 20,
        gate: bool = True,
        login: bool = True,
        index_vendor_links: bool = False,
    ) -> None:
        if style not in ("table", "cards"):
            raise ValueError(f"unknown market style {style!r}")
        self.name = name
        self.style = style
        self.title = title
        self.data = data
        self.onion_hosts = onion_hosts
        self.faults = faults or Faults()
        self.page_size = page_size
        self.gate_enabled = gate
        self.login_required = login
        # the table style's index rows link their vendor's page (a profile reads it per row)
        self.index_vendor_links = index_vendor_links
        self.items_by_id = {item.item_id: item for item in data.items}
        self.stats: Counter[str] = Counter()
        self._sessions: dict[str, int] = {}
        self._attempts: Counter[str] = Counter()
        self._human_cookies: set[str] = set()
        self._secret = hashlib.sha256(f"gate:{name}".encode()).hexdigest()
        self.port = 0
        self._signing_key = new_pgp_key(f"{title} <admin@{onion_hosts[0]}>")
        self.mirrors_txt = self._signed_mirrors()

    # -- addresses -----------------------------------------------------------------------
    @property
    def mirrors(self) -> list[str]:
        return list(self.onion_hosts)

    @property
    def pgp_public_key(self) -> str:
        return str(self._signing_key.pubkey)

    def _signed_mirrors(self) -> str:
        body = "\n".join(f"http://{host}/" for host in self.onion_hosts) + "\n"
        message = pgpy.PGPMessage.new(body, cleartext=True)
        message |= self._signing_key.sign(message)
        return str(message)

    # -- URLs ------------------------------------------------------------------------------
    def index_path(self, page: int) -> str:
        return f"/listings?page={page}" if self.style == "table" else f"/market/catalog/{page}"

    def item_path(self, item: MarketItem) -> str:
        return f"/item/{item.item_id}" if self.style == "table" else f"/p/{_slug(item.title)}-{item.item_id}"

    def vendor_path(self, vendor: str) -> str:
        return f"/vendor/{vendor}" if self.style == "table" else f"/u/{vendor}"

    @property
    def login_path(self) -> str:
        return "/login" if self.style == "table" else "/auth/signin"

    @property
    def pages(self) -> int:
        return max(1, -(-len(self.data.items) // self.page_size))

    # -- ground truth ------------------------------------------------------------------------
    def ground_truth(self) -> list[dict[str, Any]]:
        """Every listing this market serves, keyed by the URL on its primary onion name."""
        truth = []
        for item in self.data.items:
            vendor = self.data.vendors.get(item.vendor)
            truth.append(
                {
                    "url": self.base_url + self.item_path(item),
                    "market": self.name,
                    "title": item.title,
                    "text": item.description,
                    "price": {"amount": item.fiat_amount, "currency": item.fiat_currency},
                    "crypto_price": {"amount": item.crypto_amount, "currency": item.crypto_currency},
                    "quantity": {"value": item.quantity_value, "unit": item.quantity_unit},
                    "vendor": {
                        "name": item.vendor,
                        "pgp_fingerprint": vendor.pgp_fingerprint if vendor else None,
                        "rating": vendor.rating if vendor else None,
                        "sales": vendor.sales if vendor else None,
                        "contacts": [{"kind": k, "handle": h} for k, h in vendor.contacts] if vendor else [],
                        "url": self.base_url + self.vendor_path(quote(item.vendor, safe="")),
                    },
                    "ships_from": item.ships_from,
                    "ships_to": list(item.ships_to),
                    "escrow": item.escrow,
                    "contacts": [{"kind": k, "handle": h} for k, h in item.contacts],
                    "crypto": [{"chain": c, "address": a} for c, a in item.crypto_addresses],
                    "is_drug_sale": item.is_drug_sale,
                    "substance": item.substance,
                }
            )
        return truth

    def issue_session_cookie(self) -> str:
        """What an analyst gets by solving the captcha by hand: a gate-pass cookie (``name=value``)."""
        value = secrets.token_hex(16)
        self._human_cookies.add(value)
        return f"{self.gate_cookie}={value}"

    @property
    def gate_cookie(self) -> str:
        return "__ddg_pass" if self.style == "table" else "cf_clearance"

    # -- the application ---------------------------------------------------------------------
    def app(self) -> web.Application:
        app = web.Application(middlewares=[self._guard])
        routes = [
            web.get("/", self._home),
            web.get("/mirrors.txt", self._mirrors),
            web.get("/pgp.txt", self._pgp),
            web.get(self.login_path, self._login_form),
            web.post(self.login_path, self._login_submit),
            web.post("/gate", self._gate_submit),
        ]
        if self.style == "table":
            routes += [
                web.get("/listings", self._index),
                web.get("/item/{item_id}", self._detail),
                web.get("/vendor/{vendor}", self._vendor),
            ]
        else:
            routes += [
                web.get("/market/catalog/{page}", self._index),
                web.get("/p/{slug}", self._detail),
                web.get("/u/{vendor}", self._vendor),
            ]
        app.add_routes(routes)
        return app

    @web.middleware
    async def _guard(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        self.stats["requests"] += 1
        path = request.path_qs
        public = request.path in ("/mirrors.txt", "/pgp.txt", "/gate")
        if self.faults.enabled and not public and request.method == "GET":
            self._attempts[path] += 1
            crc = zlib.crc32(path.encode())
            if self._attempts[path] == 1 and crc % self.faults.rate_limit_every == 0:
                self.stats["429"] += 1
                return web.Response(
                    status=429,
                    text="Too many requests, slow down",
                    headers={"Retry-After": str(self.faults.retry_after_s)},
                )
            if self._attempts[path] == 1 and crc % self.faults.server_error_every == 1:
                self.stats["5xx"] += 1
                return web.Response(status=(500, 502, 503)[crc % 3], text="upstream error")
        if self.gate_enabled and not public and not self._gate_passed(request):
            self.stats["gate"] += 1
            return self._gate_page(request)
        if self.login_required and not public and request.path != self.login_path and not self._logged_in(request):
            self.stats["login_redirect"] += 1
            raise web.HTTPFound(f"{self.login_path}?next={quote(path, safe='')}")
        return await handler(request)

    def _gate_passed(self, request: web.Request) -> bool:
        value = request.cookies.get(self.gate_cookie)
        if value is None:
            return False
        if self.style == "table":
            return hmac.compare_digest(value, self._secret[:24])
        return value in self._human_cookies

    def _gate_page(self, request: web.Request) -> web.Response:
        if self.style == "table":
            token = self._secret[:24]
            body = (
                f"<html><head><title>DDoS protection by {escape(self.title)}</title></head><body>"
                f"<h1>Checking your browser before accessing {escape(self.title)}</h1>"
                f"<p>This process is automatic. Please allow up to 5 seconds.</p>"
                f"<form id='ddos-gate' method='post' action='/gate'>"
                f"<input type='hidden' name='token' value='{token}'>"
                f"<input type='hidden' name='next' value='{escape(request.path_qs, quote=True)}'>"
                f"<button>Continue</button></form></body></html>"
            )
            return web.Response(status=503, text=body, content_type="text/html")
        body = (
            "<html><head><title>Security check</title></head><body><div class='captcha-wall'>"
            "<h2>Prove you are human</h2><img src='/captcha.png' alt='captcha'>"
            "<form method='post' action='/gate'><input name='answer'><button>Enter</button></form>"
            "</div></body></html>"
        )
        return web.Response(status=200, text=body, content_type="text/html")

    async def _gate_submit(self, request: web.Request) -> web.StreamResponse:
        form = await request.post()
        if self.style == "table" and form.get("token") == self._secret[:24]:
            self.stats["gate_solved"] += 1
            target = str(form.get("next") or "/")
            response = web.HTTPFound(target if target.startswith("/") else "/")
            response.set_cookie(self.gate_cookie, self._secret[:24], httponly=True)
            raise response
        return web.Response(status=403, text="wrong answer")

    def _logged_in(self, request: web.Request) -> bool:
        sid = request.cookies.get("sid")
        if sid is None or sid not in self._sessions:
            return False
        self._sessions[sid] -= 1
        if self._sessions[sid] < 0:
            del self._sessions[sid]
            self.stats["session_expired"] += 1
            return False
        return True

    async def _login_form(self, request: web.Request) -> web.Response:
        next_url = request.query.get("next", "/")
        if self.style == "table":
            form = (
                f"<form id='login' method='post' action='/login'>"
                f"<input name='username'><input name='password' type='password'>"
                f"<input type='hidden' name='csrf' value='{secrets.token_hex(8)}'>"
                f"<input type='hidden' name='next' value='{escape(next_url, quote=True)}'>"
                f"<button>Sign in</button></form>"
            )
        else:
            form = (
                f"<div class='auth'><form class='signin' method='post' action='/auth/signin'>"
                f"<label>User <input name='user'></label><label>Pass <input name='pass' type='password'></label>"
                f"<input type='hidden' name='next' value='{escape(next_url, quote=True)}'>"
                f"<input type='submit' value='Enter market'></form></div>"
            )
        return self._page("Sign in", form)

    async def _login_submit(self, request: web.Request) -> web.StreamResponse:
        form = await request.post()
        user, password = (
            (form.get("username"), form.get("password"))
            if self.style == "table"
            else (form.get("user"), form.get("pass"))
        )
        if user != USERNAME or password != PASSWORD:
            self.stats["login_failed"] += 1
            return self._page("Sign in", "<p class='error'>Invalid credentials</p>", status=403)
        sid = secrets.token_hex(16)
        self._sessions[sid] = self.faults.session_views
        self.stats["logins"] += 1
        target = str(form.get("next") or "/")
        response = web.HTTPFound(target if target.startswith("/") else "/")
        response.set_cookie("sid", sid, httponly=True)
        raise response

    async def _home(self, request: web.Request) -> web.StreamResponse:
        raise web.HTTPFound(self.index_path(1))

    async def _mirrors(self, request: web.Request) -> web.Response:
        return web.Response(text=self.mirrors_txt)

    async def _pgp(self, request: web.Request) -> web.Response:
        return web.Response(text=self.pgp_public_key)

    def _page(self, title: str, body: str, status: int = 200) -> web.Response:
        if self.style == "table":
            html = (
                f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{escape(title)} | {escape(self.title)}"
                f"</title></head><body><div id='top'><a href='/'>{escape(self.title)}</a></div>"
                f"<div id='main'>{body}</div><div id='foot'>Escrow market since 2024</div></body></html>"
            )
        else:
            html = (
                f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>{escape(self.title)} - "
                f"{escape(title)}</title></head><body class='bazaar'><nav class='navbar'><span class='brand'>"
                f"{escape(self.title)}</span></nav><main class='container'>{body}</main></body></html>"
            )
        return web.Response(status=status, text=html, content_type="text/html", charset="utf-8")

    async def _index(self, request: web.Request) -> web.Response:
        try:
            page = int(request.query.get("page", "1") if self.style == "table" else request.match_info["page"])
        except ValueError:
            raise web.HTTPNotFound() from None
        if page < 1 or page > self.pages:
            raise web.HTTPNotFound()
        chunk = self.data.items[(page - 1) * self.page_size : page * self.page_size]
        if self.style == "table":
            rows = "".join(
                f"<tr class='row'><td><a class='item-link' href='{self.item_path(i)}'>{escape(i.title)}</a></td>"
                f"<td class='vendor'>{self._index_vendor(i.vendor)}</td><td class='price'>{i.fiat_currency} "
                f"{i.fiat_amount:.2f}</td></tr>"
                for i in chunk
            )
            nav = f"<a class='next' href='{self.index_path(page + 1)}'>Next &raquo;</a>" if page < self.pages else ""
            body = f"<table class='listings'>{rows}</table><div class='pager'>Page {page} of {self.pages} {nav}</div>"
        else:
            cards = "".join(
                f"<div class='card'><h3 class='card-title'><a href='{self.item_path(i)}'>{escape(i.title)}</a></h3>"
                f"<p class='muted'>by {escape(i.vendor)} &middot; €{i.fiat_amount:.2f}</p></div>"
                for i in chunk
            )
            nav = (
                (
                    f"<ul class='pagination'><li class='pager-next'><a href='{self.index_path(page + 1)}'>Page "
                    f"{page + 1} &raquo;</a></li></ul>"
                )
                if page < self.pages
                else ""
            )
            body = f"<section class='grid'>{cards}</section>{nav}"
        return self._page(f"Listings page {page}", body)

    def _index_vendor(self, vendor: str) -> str:
        if not self.index_vendor_links:
            return escape(vendor)
        return f"<a href='{escape(self.vendor_path(quote(vendor, safe='')), quote=True)}'>{escape(vendor)}</a>"

    async def _detail(self, request: web.Request) -> web.Response:
        raw = request.match_info.get("item_id") or request.match_info.get("slug", "").rsplit("-", 1)[-1]
        try:
            item = self.items_by_id[int(raw)]
        except (ValueError, KeyError):
            raise web.HTTPNotFound() from None
        if self.style == "cards" and request.path != self.item_path(item):
            raise web.HTTPMovedPermanently(self.item_path(item))
        vendor_url = self.vendor_path(item.vendor)
        if self.style == "table":
            body = (
                f"<div id='listing'><h1 class='title'>{escape(item.title)}</h1>"
                f"<div class='price'><span class='crypto'>{item.crypto_amount:.6f} {item.crypto_currency}</span> "
                f"<span class='fiat'>{item.fiat_currency} {item.fiat_amount:.2f}</span></div>"
                f"<dl class='meta'><dt>Quantity</dt><dd class='qty'>{item.quantity_value:g} {item.quantity_unit}</dd>"
                f"<dt>Vendor</dt><dd class='vendor'><a href='{vendor_url}'>{escape(item.vendor)}</a></dd>"
                f"<dt>Ships from</dt><dd class='from'>{escape(item.ships_from)}</dd>"
                f"<dt>Ships to</dt><dd class='to'>{escape(', '.join(item.ships_to))}</dd>"
                f"<dt>Escrow</dt><dd class='escrow'>{'Yes' if item.escrow else 'No'}</dd></dl>"
                f"<h3>Description</h3><div class='description'>{escape(item.description)}</div></div>"
            )
        else:
            dests = "".join(f"<li>{escape(d)}</li>" for d in item.ships_to)
            body = (
                f"<article class='product'><header><h2 itemprop='name'>{escape(item.title)}</h2></header>"
                f"<p class='cost'>€{item.fiat_amount:.2f} <small>({item.crypto_amount:.6f} "
                f"{item.crypto_currency})</small></p><table class='specs'>"
                f"<tr><th>Seller</th><td class='seller'><a href='{vendor_url}'>{escape(item.vendor)}</a></td></tr>"
                f"<tr><th>Amount</th><td class='amount'>{item.quantity_value:g} {item.quantity_unit}</td></tr>"
                f"<tr><th>Origin</th><td class='origin'>{escape(item.ships_from)}</td></tr>"
                f"<tr><th>Destinations</th><td><ul class='dest'>{dests}</ul></td></tr>"
                f"<tr><th>Payment</th><td class='payment'>{'Escrow' if item.escrow else 'Direct (FE)'}</td></tr>"
                f"</table><section class='desc'><p>{escape(item.description)}</p></section></article>"
            )
        return self._page(item.title, body)

    async def _vendor(self, request: web.Request) -> web.Response:
        record = self.data.vendors.get(request.match_info["vendor"])
        if record is None:
            raise web.HTTPNotFound()
        self.stats[f"vendor_page:{record.name}"] += 1
        key = escape(record.pgp_public_key)
        written = [f"{escape(kind.title())}: @{escape(handle)}" for kind, handle in record.contacts]
        contacts = "".join(f"<li>{line}</li>" for line in written)
        reach = " or ".join(written) or "the market's messages"
        if self.style == "table":
            body = (
                f"<h1 class='vendor-name'>{escape(record.name)}</h1>"
                f"<p class='stats'>Rating <span class='rating'>{record.rating:.1f}/5</span> &middot; "
                f"<span class='sales'>{record.sales:,} sales</span></p><ul class='contacts'>{contacts}</ul>"
                f"<h3>PGP key</h3><pre class='pgp'>{key}</pre>"
            )
        else:
            body = (
                f"<div class='profile'><h2>{escape(record.name)}</h2>"
                f"<dl class='vstats'><dt>Feedback</dt><dd class='score'>{record.rating:.1f} / 5.0</dd>"
                f"<dt>Orders</dt><dd class='orders'>({record.sales})</dd></dl>"
                f"<div class='reach'><p>Reach me on {reach}</p></div>"
                f"<textarea class='pgpkey' readonly>{key}</textarea></div>"
            )
        return self._page(record.name, body)
