"""``steppe``: a simulated Russian-language dead-drop ("klad") marketplace in Kazakhstan.

Unlike the bundled markets: buyers pick a city, then a listing; a listing is one product in one
city district with the drop types on offer (magnet, stash, buried) and a table of price tiers
(``0,5 г`` / ``1 г`` / ``3 г`` ...), priced in tenge written four ways (``12 500 ₸``, ``12500 тг``,
a bare ``12 500`` with a no-break space, ``₸ 12 500``), a currency with no global USD rate.
Facts are label/value rows in Russian, in changing order, some missing (district, purity).
Purity and form have no slot in the listing model (a profile keeps them as ``attributes``).
Shops have their own page at ``/shop/<name>`` (Cyrillic, URL-quoted), with rating, sales and
contacts (Telegram, Session, Threema: all fictional, marked ``sim``); one shop publishes a key.

No gate, no login, no faults.  Deterministic from ``seed`` except the one PGP key.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from html import escape
from typing import Any
from urllib.parse import quote

from aiohttp import web

from crawlers.simsites.addressing import OnionAddresses
from crawlers.simsites.fakes import (
    FakeContact,
    FakeVendor,
    pgp_key_block,
    plain_text,
    session_id,
    threema_id,
    vendor_truth,
)

TITLE = "Степной Клад"
CITIES = {
    "almaty": ("Алматы", ("Алмалинский", "Бостандыкский", "Медеуский", "Ауэзовский", "Жетысуский")),
    "astana": ("Астана", ("Есильский", "Алматинский", "Сарыаркинский", "Байконурский")),
    "shymkent": ("Шымкент", ("Абайский", "Енбекшинский", "Каратауский")),
    "karaganda": ("Караганда", ("Казыбек би", "Октябрьский")),
}
DROP_TYPES = ("магнит", "тайник", "прикоп")
# (title, category, unit shown, unit as the model records it, tiers, price of one unit in KZT, forms)
_PRODUCTS = (
    ("Мефедрон кристаллы VHQ", "Стимуляторы", "г", "g", (0.5, 1, 2, 5), 18000, ("кристаллы",)),
    ("Альфа-PVP «Кристалл»", "Стимуляторы", "г", "g", (0.3, 0.5, 1, 3), 16000, ("кристаллы", "порошок")),
    ("Гашиш Ice-o-lator", "Каннабис", "г", "g", (1, 2, 5, 10), 9000, ("плитка",)),
    ("Шишки AK-47 (indoor)", "Каннабис", "г", "g", (1, 3, 5, 10), 8000, ("шишки",)),
    ("Амфетамин & сульфат", "Стимуляторы", "г", "g", (0.5, 1, 3), 11000, ("порошок", "паста")),
    ("Экстази Tesla 250 мг", "Эйфоретики", "шт", "units", (1, 2, 5, 10), 7500, ("таблетки",)),
    ("ЛСД марки 200 мкг", "Психоделики", "шт", "units", (1, 3, 5), 9500, ("марки",)),
    ("Кокаин Перу 93%", "Стимуляторы", "г", "g", (0.5, 1, 2), 65000, ("порошок", "камень")),
)
_SHOPS = ("Тихий Сокол", "Степной Ветер", "Золотой Беркут", "Северный Маяк", "Синий Тюльпан")
_TRANSLIT = {"Тихий Сокол": "tihiysokol", "Степной Ветер": "stepnoyveter", "Золотой Беркут": "zolotoyberkut"}
_TRANSLIT |= {"Северный Маяк": "severnymayak", "Синий Тюльпан": "siniytulpan"}
_NOTES = (
    "Клады только в нашем районе, фото с координатами после оплаты.",
    "Ненаход &mdash; перезаклад после проверки оператором.",
    "Оплата: карта, <b>BTC</b> или USDT.",
    "Качество проверено, отзывы в канале.",
    "Магниты крепим на металл, прикоп до 10 см.",
)


@dataclass
class Tier:
    quantity: float
    unit_shown: str
    unit: str
    price: int
    price_text: str


@dataclass
class SteppeItem:
    item_id: int
    title: str
    shop: str
    city_slug: str
    city: str
    district: str | None
    drop_types: list[str]
    category: str
    purity: str | None
    form: str
    tiers: list[Tier]
    notes: list[str]
    text: str
    row_order: list[str] = field(default_factory=list)


def _kzt(amount: int, rng: random.Random) -> str:
    grouped = f"{amount:,}".replace(",", " ")
    return rng.choice((f"{grouped} ₸", f"{amount} тг", grouped.replace(" ", "\u00a0"), f"₸ {grouped}"))


def _quantity_text(value: float, unit: str) -> str:
    return f"{value:g}".replace(".", ",") + f" {unit}"


def generate(seed: int, count: int) -> tuple[list[SteppeItem], dict[str, FakeVendor]]:
    rng = random.Random(f"{seed}:steppe")
    shops: dict[str, FakeVendor] = {}
    for index, name in enumerate(_SHOPS):
        slug = _TRANSLIT[name]
        sid = session_id(rng)
        contacts = [
            FakeContact("telegram", f"{slug}_sim", f"Telegram: @{slug}_sim"),
            FakeContact("session", sid, f"Session ID: {sid}"),
        ]
        if index % 2 == 0:
            contacts.append(FakeContact("telegram", f"{slug}_op_sim", f"Оператор: t.me/{slug}_op_sim"))
        if index == 3:
            contacts.append(FakeContact("threema", tid := threema_id(rng), f"Threema: {tid}"))
        key, fingerprint = pgp_key_block(f"{slug} <{slug}@mail.sim.invalid>") if index == 1 else (None, None)
        shops[name] = FakeVendor(
            name=name,
            path="/shop/" + quote(name),
            rating=round(rng.uniform(4.1, 5.0), 1),
            sales=rng.randint(300, 25000),
            contacts=contacts,
            pgp_key=key,
            pgp_fingerprint=fingerprint,
        )
    items: list[SteppeItem] = []
    for index in range(count):
        title, category, unit_shown, unit, tier_qty, unit_price, forms = rng.choice(_PRODUCTS)
        city_slug = rng.choice(sorted(CITIES))
        city, districts = CITIES[city_slug]
        qtys = sorted(rng.sample(tier_qty, rng.randint(2, len(tier_qty))))
        tiers = []
        for q in qtys:
            discount = 1.0 - min(0.25, 0.04 * q)
            price = int(round(unit_price * q * discount / 500.0) * 500) or 500
            tiers.append(Tier(float(q), unit_shown, unit, price, _kzt(price, rng)))
        notes = rng.sample(_NOTES, rng.randint(1, 2))
        district = None if rng.random() < 0.15 else rng.choice(districts)
        purity = None if unit == "units" or rng.random() < 0.25 else f"{rng.randint(82, 99)}%"
        rows = ["Магазин", "Город", "Район", "Тип клада", "Категория", "Чистота", "Форма", "Обновлено"]
        rng.shuffle(rows)
        rows = [r for r in rows if not (r == "Район" and district is None) and not (r == "Чистота" and purity is None)]
        items.append(
            SteppeItem(
                item_id=7001 + index,
                title=title,
                shop=rng.choice(_SHOPS),
                city_slug=city_slug,
                city=city,
                district=district,
                drop_types=sorted(rng.sample(DROP_TYPES, rng.randint(1, 3)), key=DROP_TYPES.index),
                category=category,
                purity=purity,
                form=rng.choice(forms),
                tiers=tiers,
                notes=notes,
                text=" ".join(plain_text(n) for n in notes),
                row_order=rows,
            )
        )
    return items, shops


class SteppeSite(OnionAddresses):
    """The dead-drop shop on loopback; :meth:`ground_truth` is what every page says."""

    kind = "market"
    name = "steppe"

    def __init__(self, onion_hosts: list[str], *, seed: int = 13, listings: int = 48, page_size: int = 5) -> None:
        self.onion_hosts = onion_hosts
        self.port = 0
        self.page_size = page_size
        self.items, self.shops = generate(seed, listings)
        self.by_id = {item.item_id: item for item in self.items}

    def item_path(self, item: SteppeItem) -> str:
        return f"/tovar/{item.item_id}"

    def city_items(self, slug: str) -> list[SteppeItem]:
        return [item for item in self.items if item.city_slug == slug]

    # -- ground truth ---------------------------------------------------------------------------
    def ground_truth(self) -> list[dict[str, Any]]:
        truth = []
        for item in self.items:
            offers: list[dict[str, Any]] = [
                {
                    "quantity": t.quantity,
                    "unit": t.unit,
                    "price": {"amount": float(t.price), "currency": "KZT"},
                    "shown": {"quantity": _quantity_text(t.quantity, t.unit_shown), "price": t.price_text},
                }
                for t in item.tiers
            ]
            attributes: dict[str, str] = {"form": item.form}
            if item.purity is not None:
                attributes["purity"] = item.purity
            truth.append(
                {
                    "url": self.base_url + self.item_path(item),
                    "market": self.name,
                    "title": item.title,
                    "text": item.text,
                    "vendor": vendor_truth(self.shops[item.shop], self.base_url),
                    "ships_from": None,
                    "ships_to": [],
                    "escrow": None,
                    "category": item.category,
                    "location": {"city": item.city, "district": item.district, "drop_type": ", ".join(item.drop_types)},
                    "offers": offers,
                    "price": {"amount": offers[0]["price"]["amount"], "currency": "KZT"},
                    "attributes": attributes,
                }
            )
        return truth

    # -- the application ------------------------------------------------------------------------
    def app(self) -> web.Application:
        app = web.Application()
        app.add_routes(
            [
                web.get("/", self._home),
                web.get("/gorod/{slug}", self._city),
                web.get("/tovar/{item_id}", self._detail),
                web.get("/shop/{name}", self._shop),
            ]
        )
        return app

    def _page(self, title: str, body: str) -> web.Response:
        html = (
            "<!doctype html>\n<html lang='ru'><head><meta charset='utf-8'>"
            f"<title>{escape(title)} — {TITLE}</title></head>\n<body>\n"
            f"<div class='shapka'><a href='/'>{TITLE}</a> <span class='kurs'>Курс: по бирже</span></div>\n"
            f"<div class='kontent'>\n{body}\n</div>\n"
            "<div class='podval'>Работаем 24/7 &bull; Ненаход &mdash; к оператору</div>\n</body></html>\n"
        )
        return web.Response(text=html, content_type="text/html", charset="utf-8")

    async def _home(self, request: web.Request) -> web.Response:
        cities = "\n".join(
            f"  <li><a href='/gorod/{slug}'>{escape(name)}</a> "
            f"<span class='n'>({len(self.city_items(slug))})</span></li>"
            for slug, (name, _) in sorted(CITIES.items())
        )
        body = f"<h1>Выберите город</h1>\n<ul class='goroda'>\n{cities}\n</ul>"
        return self._page("Главная", body)

    async def _city(self, request: web.Request) -> web.Response:
        slug = request.match_info["slug"]
        if slug not in CITIES:
            raise web.HTTPNotFound()
        try:
            page = int(request.query.get("str", "1"))
        except ValueError:
            raise web.HTTPNotFound() from None
        items = self.city_items(slug)
        pages = max(1, -(-len(items) // self.page_size))
        if not 1 <= page <= pages:
            raise web.HTTPNotFound()
        cards = []
        for item in items[(page - 1) * self.page_size : page * self.page_size]:
            low = min(t.price for t in item.tiers)
            cards.append(
                f"<div class='kartochka'>\n  <div class='nazv'>{escape(item.title)}</div>\n"
                f"  <div class='rayon'>{escape(item.district or 'весь город')}</div>\n"
                f"  <div class='ot'>от {low} ₸</div>\n"
                f"  <a class='podrobnee' href='{self.item_path(item)}'>Подробнее</a>\n</div>"
            )
        nav = f"<a class='dalee' href='/gorod/{slug}?str={page + 1}'>Далее &raquo;</a>" if page < pages else ""
        body = (
            f"<h1>{escape(CITIES[slug][0])}</h1>\n<div class='vitrina'>\n"
            + "\n".join(cards)
            + f"\n</div>\n<div class='nav'>{nav}</div>"
        )
        return self._page(CITIES[slug][0], body)

    async def _detail(self, request: web.Request) -> web.Response:
        try:
            item = self.by_id[int(request.match_info["item_id"])]
        except (ValueError, KeyError):
            raise web.HTTPNotFound() from None
        shop = self.shops[item.shop]
        values = {
            "Магазин": f"<a href='{shop.path}'>{escape(shop.name)}</a>",
            "Город": escape(item.city),
            "Район": escape(item.district or ""),
            "Тип клада": "\n      " + escape(", ".join(item.drop_types)) + "\n    ",
            "Категория": escape(item.category),
            "Чистота": escape(item.purity or ""),
            "Форма": f"<i>{escape(item.form)}</i>",
            "Обновлено": "сегодня",
        }
        rows = "\n".join(
            f"  <div class='stroka'><span class='k'>{label}:</span> <span class='v'>{values[label]}</span></div>"
            for label in item.row_order
        )
        tiers = "\n".join(
            f"  <tr class='fasovka'><td class='ves'>{_quantity_text(t.quantity, t.unit_shown)}</td>"
            f"<td class='cena'>{escape(t.price_text)}</td>"
            f"<td><form method='post' action='/kupit'><input type='hidden' name='id' value='{item.item_id}'>"
            "<button>Купить</button></form></td></tr>"
            for t in item.tiers
        )
        notes = "\n".join(f"  <p>{n}</p>" for n in item.notes)
        body = (
            f"<div class='tovar'>\n<h1 class='zagolovok'>{escape(item.title)}</h1>\n"
            f"<div class='svedeniya'>\n{rows}\n</div>\n"
            "<table class='fasovki'>\n<thead><tr><th>Вес</th><th>Цена</th><th></th></tr></thead>\n<tbody>\n"
            f"{tiers}\n</tbody>\n</table>\n<div class='opisanie'>\n{notes}\n</div>\n</div>"
        )
        return self._page(item.title, body)

    async def _shop(self, request: web.Request) -> web.Response:
        shop = self.shops.get(request.match_info["name"])
        if shop is None:
            raise web.HTTPNotFound()
        contacts = "\n".join(f"  <li>{escape(c.shown)}</li>" for c in shop.contacts)
        key = f"\n<h3>PGP</h3>\n<pre class='pgp'>{escape(shop.pgp_key)}</pre>" if shop.pgp_key else ""
        body = (
            f"<div class='magazin'>\n<h1>{escape(shop.name)}</h1>\n"
            f"<p class='reiting'>Рейтинг: <b>{shop.rating}</b> из 5</p>\n"
            f"<p class='prodazhi'>Продаж: <b>{shop.sales}</b> &middot; с 2025 года</p>\n"
            f"<div class='kontakty'>\n<h3>Связь</h3>\n<ul>\n{contacts}\n</ul>\n</div>{key}\n</div>"
        )
        return self._page(shop.name, body)
