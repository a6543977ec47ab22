"""``cinder``: a simulated "ledger" market whose layout the crawler's authors did not write.

What it does differently from the bundled markets, on purpose:

* the index is a ``<table>`` paginated by ``<a rel="next">`` (a query-only ``?page=N`` href), with
  a sponsored row that holds no link; each row links the listing *and* the vendor page;
* the vendor page is linked only from the index row, never from the detail page (which names the
  vendor as plain text);
* detail facts sit in a ``<dl>`` whose order changes from listing to listing, between decoy facts
  ("Stock", "Views"), some with an icon inside the ``<dt>``; optional facts are missing on some;
* the price shows fiat and crypto in either order: ``0.006752 BTC ($413.43)``,
  ``$413.43 (0.006752 BTC)``, ``€120.00 / 0.3100 XMR``, ``1.2500 XMR (€1,250.00)``;
* vendor pages carry rating, sales, contacts and an armoured PGP key, which on some vendors is
  mangled so that it does not parse (its text is still what the page shows); one seller is
  banned: its page answers 404 while its listings stay up.

No gate, no login, no faults: this site tests reading, not getting in.  Deterministic from
``seed`` except the PGP keys (generated per world, so fingerprints differ between runs).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from html import escape
from typing import Any

from aiohttp import web

from crawlers.simsites.addressing import OnionAddresses
from crawlers.simsites.fakes import (
    FakeContact,
    FakeVendor,
    broken_key_block,
    handle_for,
    pgp_key_block,
    plain_text,
    session_id,
    threema_id,
    vendor_names,
    vendor_truth,
)

TITLE = "Cinder Exchange"
# Crypto rates the site itself prices with (its own figures, not the crawler's rate table).
_SITE_RATES = {"BTC": 61234.5, "XMR": 158.25}
_PRODUCTS = (
    ('Cocaine 90% "Fishscale" <Bolivian>', "Stimulants", "g"),
    ("MDMA crystals - Dutch & tested", "Ecstasy & MDMA", "g"),
    ("Blue Punisher 280mg pills", "Ecstasy & MDMA", "pills"),
    ("Ketamine needles (S-isomer)", "Dissociatives", "g"),
    ("LSD blotters 150µg 'Hofmann'", "Psychedelics", "tabs"),
    ("Amnesia Haze buds — top shelf", "Cannabis", "g"),
    ("Xanax 2mg bars (pressed)", "Benzos & Pills", "pills"),
    ("Speed paste 60%", "Stimulants", "g"),
    ("Oxycodone 30mg M-boxes", "Opioids", "pills"),
    ("Psilocybe cubensis Golden Teacher", "Psychedelics", "g"),
    ("Charas hash, hand rubbed", "Cannabis", "g"),
    ("Crystal meth shards", "Stimulants", "g"),
)
_AMOUNTS = {"g": (0.5, 1, 3.5, 7, 14, 28, 100), "pills": (10, 25, 50, 100), "tabs": (5, 10, 25, 50)}
_COUNTRIES = ("Germany", "Netherlands", "Spain", "Poland", "United Kingdom", "Belgium", "Czech Republic")
_DESTS = ("Worldwide", "EU", "United Kingdom", "Germany", "Scandinavia", "United States")
_ESCROW = ("Escrow", "Multisig 2-of-3", "FE (finalize early)")
_BLURBS = (
    "Stealth: <b>vacuum sealed</b> &amp; MBB, no signature needed.",
    "Ships Mon-Fri, orders before 14:00 go out the same day.",
    "Reship once if lost, then 50% refund. No refunds on <i>seized</i> parcels.",
    "Lab tested batch, report on request.",
    "Read my profile terms before ordering &ndash; no FE for new buyers.",
    "Bulk discounts from 5 units, message me first.",
)


@dataclass
class CinderItem:
    offer_id: str
    title: str
    badge: str | None
    vendor: str
    category: str
    ships_from: str | None
    ships_to: list[str]
    escrow: str | None
    fiat_amount: float
    fiat_currency: str
    crypto_amount: float
    crypto_currency: str
    price_text: str
    quantity_value: float
    quantity_unit: str
    paragraphs: list[str]  # HTML of each description paragraph
    text: str  # what the description reads as (tags dropped, entities decoded, spaces squeezed)
    fact_order: list[str]


def _money(amount: float) -> str:
    return f"{amount:,.2f}"


def _price_text(rng: random.Random, fiat: float, currency: str, crypto: float, coin: str) -> str:
    c = f"{crypto:.6f}" if coin == "BTC" else f"{crypto:.4f}"
    symbol = "$" if currency == "USD" else "€"
    return rng.choice(
        (
            f"{c} {coin} ({symbol}{_money(fiat)})",
            f"{symbol}{_money(fiat)} ({c} {coin})",
            f"{symbol}{_money(fiat)} / {c} {coin}",
            f"{c} {coin} ≈ {symbol}{_money(fiat)}",
        )
    )


def generate(seed: int, count: int) -> tuple[list[CinderItem], dict[str, FakeVendor]]:
    """``count`` listings and their vendors, from ``seed``."""
    rng = random.Random(f"{seed}:cinder")
    names = vendor_names(rng, 12)
    vendors: dict[str, FakeVendor] = {}
    for index, name in enumerate(names):
        contacts: list[FakeContact] = []
        handle = handle_for(name)
        options = [
            FakeContact("wickr", handle, f"Wickr: {handle}"),
            FakeContact("threema", tid := threema_id(rng), f"Threema ID: {tid}"),
            FakeContact("telegram", handle, f"https://t.me/{handle}"),
            FakeContact("email", f"{handle}@mail.sim.invalid", f"E-mail: {handle}@mail.sim.invalid"),
        ]
        sid = session_id(rng)
        contacts.append(FakeContact("session", sid, f"Session: {sid}"))
        contacts += rng.sample(options, rng.randint(0, 2))
        if index % 4 == 3:  # a mangled key: the page shows it, it does not parse
            key: str | None = broken_key_block(f"{name} <{handle}@mail.sim.invalid>", rng)
            fingerprint = None
        elif index == 10:  # no key published at all
            key, fingerprint = None, None
        else:
            key, fingerprint = pgp_key_block(f"{name} <{handle}@mail.sim.invalid>")
        vendors[name] = FakeVendor(
            name=name,
            path=f"/seller/{name}",
            rating=None if index in (2, 9) else round(rng.uniform(3.6, 5.0), 2),
            sales=rng.randint(0, 4800),
            contacts=contacts,
            pgp_key=key,
            pgp_fingerprint=fingerprint,
            joined=f"2025-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}",
        )
        if index == 11:  # banned: the seller page answers 404, the listings stay; nothing is known of it
            vendors[name] = FakeVendor(name=name, path=f"/seller/{name}", rating=None, sales=None, status=404)
    items: list[CinderItem] = []
    used_ids: set[str] = set()
    for _ in range(count):
        product, category, unit = rng.choice(_PRODUCTS)
        qty = float(rng.choice(_AMOUNTS[unit]))
        qty_text = f"{qty:g}{'' if unit == 'g' else ' '}{unit}"
        title = rng.choice((f"{qty_text} {product}", f"{product} | {qty_text}", f"{product} x {qty_text}"))
        offer_id = f"{rng.getrandbits(24):06x}"
        while offer_id in used_ids:
            offer_id = f"{rng.getrandbits(24):06x}"
        used_ids.add(offer_id)
        currency = rng.choice(("USD", "EUR"))
        coin = "BTC" if currency == "USD" or rng.random() < 0.3 else "XMR"
        fiat = round(rng.uniform(15, 2400), 2)
        usd = fiat * (1.0 if currency == "USD" else 1.0625)
        crypto = round(usd / _SITE_RATES[coin], 6 if coin == "BTC" else 4)
        paragraphs = rng.sample(_BLURBS, rng.randint(1, 3))
        facts = ["Price", "Vendor", "Origin", "Ships to", "Escrow", "Category", "Amount", "Stock", "Views"]
        rng.shuffle(facts)
        ships_from = None if rng.random() < 0.1 else rng.choice(_COUNTRIES)
        ships_to = [] if rng.random() < 0.1 else sorted(rng.sample(_DESTS, rng.randint(1, 3)))
        escrow = None if rng.random() < 0.12 else rng.choice(_ESCROW)
        items.append(
            CinderItem(
                offer_id=offer_id,
                title=title,
                badge=rng.choice((None, None, "NEW", "hot", "restocked")),
                vendor=rng.choice(names),
                category=category,
                ships_from=ships_from,
                ships_to=ships_to,
                escrow=escrow,
                fiat_amount=fiat,
                fiat_currency=currency,
                crypto_amount=crypto,
                crypto_currency=coin,
                price_text=_price_text(rng, fiat, currency, crypto, coin),
                quantity_value=qty,
                quantity_unit=unit,
                paragraphs=paragraphs,
                text=" ".join(plain_text(p) for p in paragraphs),
                fact_order=[
                    f
                    for f in facts
                    if not (f == "Origin" and ships_from is None)
                    and not (f == "Ships to" and not ships_to)
                    and not (f == "Escrow" and escrow is None)
                ],
            )
        )
    return items, vendors


class CinderSite(OnionAddresses):
    """The ledger market on loopback; :meth:`ground_truth` is what every page says."""

    kind = "market"
    name = "cinder"

    def __init__(self, onion_hosts: list[str], *, seed: int = 13, listings: int = 60, page_size: int = 12) -> None:
        self.onion_hosts = onion_hosts
        self.port = 0
        self.page_size = page_size
        self.items, self.vendors = generate(seed, listings)
        self.by_id = {item.offer_id: item for item in self.items}

    @property
    def pages(self) -> int:
        return max(1, -(-len(self.items) // self.page_size))

    def item_path(self, item: CinderItem) -> str:
        return f"/offer/{item.offer_id}"

    # -- ground truth ---------------------------------------------------------------------------
    def ground_truth(self) -> list[dict[str, Any]]:
        truth = []
        for item in self.items:
            vendor = self.vendors[item.vendor]
            truth.append(
                {
                    "url": self.base_url + self.item_path(item),
                    "market": self.name,
                    "title": item.title,
                    "text": item.text,
                    "vendor": vendor_truth(vendor, self.base_url),
                    "ships_from": item.ships_from,
                    "ships_to": list(item.ships_to),
                    "escrow": item.escrow,
                    "category": item.category,
                    "quantity": {"value": item.quantity_value, "unit": item.quantity_unit},
                    "price": {
                        "amount": item.fiat_amount,
                        "currency": item.fiat_currency,
                        "crypto_amount": item.crypto_amount,
                        "crypto_currency": item.crypto_currency,
                        "shown": item.price_text,
                    },
                    "location": None,
                    "offers": [],
                    "attributes": {},
                }
            )
        return truth

    # -- the application ------------------------------------------------------------------------
    def app(self) -> web.Application:
        app = web.Application()
        app.add_routes(
            [
                web.get("/", self._home),
                web.get("/ledger", self._index),
                web.get("/offer/{offer_id}", self._detail),
                web.get("/seller/{name}", self._vendor),
            ]
        )
        return app

    def _page(self, title: str, body: str) -> web.Response:
        html = (
            "<!DOCTYPE html>\n<html lang='en'>\n<head>\n  <meta charset='utf-8'>\n"
            f"  <title>{escape(title)} &middot; {TITLE}</title>\n</head>\n<body class='cinder'>\n"
            f"<header class='topbar'><a class='logo' href='/ledger'>{TITLE}</a>\n"
            "  <form class='search' action='/ledger'><input name='q' placeholder='Search…'></form>\n</header>\n"
            f"<main>\n{body}\n</main>\n<footer>&copy; {TITLE} &mdash; PGP-verified mirrors only</footer>\n"
            "</body>\n</html>\n"
        )
        return web.Response(text=html, content_type="text/html", charset="utf-8")

    async def _home(self, request: web.Request) -> web.StreamResponse:
        raise web.HTTPFound("/ledger")

    async def _index(self, request: web.Request) -> web.Response:
        try:
            page = int(request.query.get("page", "1"))
        except ValueError:
            raise web.HTTPNotFound() from None
        if not 1 <= page <= self.pages:
            raise web.HTTPNotFound()
        chunk = self.items[(page - 1) * self.page_size : page * self.page_size]
        rows = []
        for n, item in enumerate(chunk):
            if n == 4:
                rows.append("<tr class='sponsored'><td colspan='4'>Your ad here &mdash; ask staff</td></tr>")
            vendor = self.vendors[item.vendor]
            stars = f"&#9733; {vendor.rating:.2f}" if vendor.rating is not None else "new"
            rows.append(
                f"<tr class='{'odd' if n % 2 else 'even'}'>\n"
                f"  <td class='what'><a href='{self.item_path(item)}' title='{escape(item.title, quote=True)}'>"
                f"{escape(item.title)}</a><br><small>{escape(item.category)}</small></td>\n"
                f"  <td class='who'><a href='{vendor.path}'>{escape(vendor.name)}</a> <span class='stars'>"
                f"{stars}</span></td>\n"
                f"  <td class='cost'>{escape(item.price_text)}</td>\n"
                f"  <td class='ship'>{escape(item.ships_from or '?')} &rarr; {escape(', '.join(item.ships_to) or '?')}"
                "</td>\n</tr>"
            )
        pager = []
        if page > 1:
            pager.append(f"<a rel='prev' href='?page={page - 1}'>&lsaquo; prev</a>")
        pager += [f"<a href='?page={p}'>{p}</a>" if p != page else f"<b>{p}</b>" for p in range(1, self.pages + 1)]
        if page < self.pages:
            pager.append(f"<a rel='next' href='?page={page + 1}'>next &rsaquo;</a>")
        body = (
            "<h1>Ledger</h1>\n<table class='ledger'>\n<thead><tr><th>Offer</th><th>Seller</th><th>Price</th>"
            "<th>Shipping</th></tr></thead>\n<tbody>\n" + "\n".join(rows) + "\n</tbody>\n</table>\n"
            f"<nav class='pages'>{' '.join(pager)}</nav>"
        )
        return self._page(f"Ledger page {page}", body)

    async def _detail(self, request: web.Request) -> web.Response:
        item = self.by_id.get(request.match_info["offer_id"])
        if item is None:
            raise web.HTTPNotFound()
        facts = {
            "Price": escape(item.price_text),
            "Vendor": f"\n      <span class='vname'>{escape(item.vendor)}</span> <small>(level "
            f"{len(item.vendor) % 5 + 1})</small>\n    ",
            "Origin": f"\n      {escape(item.ships_from or '')}\n    ",
            "Ships to": escape(", ".join(item.ships_to)),
            "Escrow": escape(item.escrow or ""),
            "Category": f"<a href='/ledger?cat={escape(item.category, quote=True)}'>{escape(item.category)}</a>",
            "Amount": f"{item.quantity_value:g} {item.quantity_unit}",
            "Stock": str(len(item.title) * 3),
            "Views": str(len(item.offer_id) * 111),
        }
        icons = {"Ships to": "<i class='ico ico-truck'></i> ", "Origin": "<i class='ico ico-pin'></i>"}
        dl = "\n".join(
            f"  <dt>{icons.get(label, '')}{label}</dt>\n  <dd>{facts[label]}</dd>" for label in item.fact_order
        )
        badge = f" <span class='badge'>{item.badge}</span>" if item.badge else ""
        about = "\n".join(f"  <p>{p}</p>" for p in item.paragraphs)
        body = (
            f"<article class='offer'>\n<h1 class='offer-title'>\n  {escape(item.title)}{badge}\n</h1>\n"
            f"<div class='facts'>\n<dl>\n{dl}\n</dl>\n</div>\n"
            f"<section class='about'>\n  <h2>About this offer</h2>\n{about}\n</section>\n"
            "<p class='back'><a href='/ledger'>&larr; back to the ledger</a></p>\n</article>"
        )
        return self._page(item.title, body)

    async def _vendor(self, request: web.Request) -> web.Response:
        vendor = self.vendors.get(request.match_info["name"])
        if vendor is None:
            raise web.HTTPNotFound()
        if vendor.status != 200:
            return web.Response(
                status=vendor.status, text="<h1>This seller has been banned</h1>", content_type="text/html"
            )
        rating = (
            f"{vendor.rating:.2f}/5 <small>({(vendor.sales or 0) // 3} reviews)</small>"
            if vendor.rating is not None
            else "<em>no ratings yet</em>"
        )
        stats = [
            f"<tr><th>Rating</th><td>{rating}</td></tr>",
            f"<tr><th>Sales</th><td>{vendor.sales}</td></tr>",
            f"<tr><th>Joined</th><td>{vendor.joined}</td></tr>",
        ]
        if len(vendor.name) % 2:
            stats.reverse()  # rows in a different order on some profiles
        contacts = "\n".join(f"  <li>{escape(c.shown)}</li>" for c in vendor.contacts)
        key = (
            f"<h2>PGP public key</h2>\n<pre class='pgp-key'>{escape(vendor.pgp_key)}</pre>"
            if vendor.pgp_key
            else "<p class='nokey'>This vendor has not published a PGP key.</p>"
        )
        body = (
            f"<div class='seller-profile'>\n<h1 class='seller-name'>{escape(vendor.name)}</h1>\n"
            f"<table class='seller-stats'>\n{''.join(stats)}\n</table>\n"
            f"<h2>Contact</h2>\n<ul class='contact-list'>\n{contacts}\n</ul>\n{key}\n</div>"
        )
        return self._page(vendor.name, body)
