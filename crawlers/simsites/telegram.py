"""A simulated Telegram public preview (``t.me/s/<channel>``), with the markup the real pages use.

A page lists the newest :attr:`TelegramSite.page_size` messages older than ``?before=<id>``
(oldest first, as Telegram renders them) in ``div.tgme_widget_message_wrap >
div.tgme_widget_message[data-post="<channel>/<id>"]`` blocks: the text in
``div.tgme_widget_message_text`` (HTML: ``<br/>``, links, mentions as links, emoji as
``<i class="emoji"><b>..</b></i>``), the date in ``a.tgme_widget_message_date > time[datetime]``,
views as Telegram shows them (``1.2K``) in ``span.tgme_widget_message_views``, "edited" in
``span.tgme_widget_message_meta``, media as ``a.tgme_widget_message_photo_wrap`` with a
``background-image`` URL.  Older pages are linked by ``<link rel="prev" href="/s/<channel>?before=<id>">``
and ``a.tme_messages_more[data-before]``.

Three kinds of channel are generated deterministically (``sells``: menus, prices, bot handles,
crypto addresses; ``discusses``: harm reduction and news; ``mixes``: both).  Message ids have
gaps, as real channels do (service messages, old deletions).  :meth:`TelegramSite.edit` and
:meth:`TelegramSite.delete` change a channel between crawls.  Served on loopback under a
clearnet-looking test name (``t.me.test``) through the SOCKS5 proxy; never a real host.
"""

from __future__ import annotations

import asyncio
import random
import threading
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from html import escape
from typing import Any

from aiohttp import web

from crawlers.simsites.addressing import OnionAddresses
from crawlers.simsites.data import COUNTRIES, btc_address, xmr_address

TELEGRAM_HOST = "t.me.test"
PUBLIC_BASE = "https://t.me"

_PRODUCTS = (
    ("Cocaine", "g"),
    ("MDMA crystals", "g"),
    ("Ketamine", "g"),
    ("Xanax 2mg bars", "pcs"),
    ("Oxycodone 30mg", "pcs"),
    ("LSD 150ug", "tabs"),
    ("Weed Amnesia Haze", "g"),
    ("Speed paste", "g"),
)
_EMOJI = ("🔥", "❄️", "💊", "🍁", "🚀", "💎", "🍄", "⚡")
_HARM = (
    "PSA: a batch of pressed pills in {country} tested positive for nitazenes. Use test strips.",
    "Naloxone is free at pharmacies in {country} now. Carry it, it saves lives.",
    "News: police in {country} shut down a delivery ring this week, 14 arrests reported.",
    "Never mix benzos with alcohol or opioids. Start low, go slow.",
    "Study: drug checking services cut overdose deaths in {country} by a third.",
    "Reminder: our helpline is open 24/7, no judgement. Read more at https://harmreduction.example/help",
    "Festival season: stay hydrated, take breaks, look after your friends.",
)


@dataclass
class TgMessage:
    """One channel message as the preview page shows it (the ground truth of its block)."""

    msg_id: int
    lines: list[str]
    date: datetime
    views: int
    is_sale: bool
    media: list[str] = field(default_factory=list)
    edited: bool = False
    contacts: list[tuple[str, str]] = field(default_factory=list)
    crypto: list[tuple[str, str]] = field(default_factory=list)

    @property
    def text(self) -> str:
        return "\n".join(self.lines)


@dataclass
class TgChannel:
    name: str
    title: str
    kind: str
    messages: dict[int, TgMessage]


def views_label(views: int) -> str:
    """How Telegram shows a view count: ``987``, ``1.2K``, ``3.4M``."""
    if views < 1000:
        return str(views)
    for div, unit in ((1_000_000, "M"), (1000, "K")):
        if views >= div:
            shown = f"{views / div:.1f}".removesuffix(".0")
            return f"{shown}{unit}"
    return str(views)  # pragma: no cover


def _sale(rng: random.Random, channel: str) -> tuple[list[str], list[tuple[str, str]], list[tuple[str, str]]]:
    bot = f"{channel.split('_')[0]}_{rng.choice(['shop', 'orders', 'plug'])}_bot"
    lines = [f"{rng.choice(_EMOJI)} MENU {rng.choice(['TODAY', 'UPDATE', 'RESTOCK'])} {rng.choice(_EMOJI)}"]
    for product, unit in rng.sample(_PRODUCTS, rng.randint(2, 4)):
        qty = rng.choice([1, 2, 5, 10])
        lines.append(f"{rng.choice(_EMOJI)} {product} {qty}{unit} - {rng.randint(2, 40) * 10}€")
    lines.append(f"Orders: @{bot} | delivery {rng.choice(COUNTRIES)}")
    contacts = [("telegram", bot)]
    crypto: list[tuple[str, str]] = []
    roll = rng.random()
    if roll < 0.4:
        address = btc_address(rng)
        lines.append(f"BTC: {address}")
        crypto.append(("btc", address))
    elif roll < 0.6:
        address = xmr_address(rng)
        lines.append(f"XMR: {address}")
        crypto.append(("xmr", address))
    return lines, contacts, crypto


def generate_channel(name: str, kind: str, count: int, *, seed: int = 13, title: str | None = None) -> TgChannel:
    """``kind``: ``sells``, ``discusses`` or ``mixes``; ``count`` messages, ids with gaps."""
    rng = random.Random(f"{seed}:tg:{name}")
    start = datetime(2026, 6, 1, 8, 0, tzinfo=UTC)
    messages: dict[int, TgMessage] = {}
    msg_id = rng.randint(2, 40)
    for index in range(count):
        msg_id += 1 if rng.random() < 0.8 else rng.randint(2, 5)
        sale = kind == "sells" or (kind == "mixes" and rng.random() < 0.5)
        if sale:
            lines, contacts, crypto = _sale(rng, name)
        else:
            lines, contacts, crypto = [rng.choice(_HARM).format(country=rng.choice(COUNTRIES))], [], []
        lines[-1] += f" #{index}"
        media = [f"https://cdn4.telesco.pe/file/{name}-{msg_id}.jpg"] if rng.random() < 0.25 else []
        messages[msg_id] = TgMessage(
            msg_id=msg_id,
            lines=lines,
            date=start + timedelta(minutes=37 * index + rng.randint(0, 30)),
            views=rng.choice([rng.randint(5, 999), rng.randint(1000, 99_999), rng.randint(1_000_000, 3_000_000)]),
            is_sale=sale,
            media=media,
            contacts=contacts,
            crypto=crypto,
        )
    return TgChannel(name, title or name.replace("_", " ").title(), kind, messages)


def _line_html(line: str) -> str:
    """One line as Telegram renders it: mentions and URLs as links, emoji wrapped."""
    out = []
    for word in line.split(" "):
        if word.startswith("@") and len(word) > 1:
            handle = escape(word[1:])
            out.append(f'<a href="https://t.me/{handle}">@{handle}</a>')
        elif word.startswith(("http://", "https://")):
            out.append(f'<a href="{escape(word)}" target="_blank" rel="noopener">{escape(word)}</a>')
        elif word in _EMOJI:
            code = word.encode("utf-8").hex().upper()
            out.append(
                f'<i class="emoji" style="background-image:url(\'//telegram.org/img/emoji/40/{code}.png\')">'
                f"<b>{word}</b></i>"
            )
        else:
            out.append(escape(word))
    return " ".join(out)


def message_html(channel: TgChannel, msg: TgMessage) -> str:
    post = f"{channel.name}/{msg.msg_id}"
    media = "".join(
        f'<a class="tgme_widget_message_photo_wrap" href="{PUBLIC_BASE}/{post}?single" '
        f"style=\"width:800px;background-image:url('{escape(url)}')\"></a>"
        for url in msg.media
    )
    text = "<br/>".join(_line_html(line) for line in msg.lines)
    edited = '<span class="tgme_widget_message_edited">edited</span> ' if msg.edited else ""
    date = msg.date.isoformat()
    return (
        f'<div class="tgme_widget_message_wrap js-widget_message_wrap">'
        f'<div class="tgme_widget_message text_not_supported_wrap js-widget_message" data-post="{post}" '
        f'data-view="eyJjIjotMTAw">'
        f'<div class="tgme_widget_message_bubble">'
        f'<div class="tgme_widget_message_author accent_color"><a class="tgme_widget_message_owner_name" '
        f'href="{PUBLIC_BASE}/{channel.name}"><span dir="auto">{escape(channel.title)}</span></a></div>'
        f"{media}"
        f'<div class="tgme_widget_message_text js-message_text" dir="auto">{text}</div>'
        f'<div class="tgme_widget_message_footer compact js-message_footer"><div class="tgme_widget_message_info">'
        f'<span class="tgme_widget_message_meta"><span class="tgme_widget_message_views">{views_label(msg.views)}'
        f'</span><span class="copyonly"> views</span>{edited}'
        f'<a class="tgme_widget_message_date" href="{PUBLIC_BASE}/{post}"><time datetime="{date}" class="time">'
        f"{msg.date:%H:%M}</time></a></span></div></div></div></div></div>"
    )


class TelegramSite(OnionAddresses):
    """Every simulated channel on one host; ``/s/<channel>[?before=<id>]`` as t.me serves it."""

    kind = "telegram"

    def __init__(self, channels: list[TgChannel], *, host: str = TELEGRAM_HOST, page_size: int = 20) -> None:
        self.name = "telegram"
        self.channels = {c.name: c for c in channels}
        self.onion_hosts = [host]
        self.page_size = page_size
        self.port = 0
        self.stats: Counter[str] = Counter()
        self.hits: list[str] = []
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None

    # -- changes between crawls ----------------------------------------------------------------
    def edit(self, channel: str, msg_id: int, text: str) -> None:
        with self._lock:
            msg = self.channels[channel].messages[msg_id]
            msg.lines = text.split("\n")
            msg.edited = True

    def delete(self, channel: str, msg_id: int) -> None:
        with self._lock:
            del self.channels[channel].messages[msg_id]

    # -- what tests read -----------------------------------------------------------------------
    def ground_truth(self) -> list[dict[str, Any]]:
        return [
            {
                "channel": c.name,
                "msg_id": m.msg_id,
                "url": f"{PUBLIC_BASE}/{c.name}/{m.msg_id}",
                "text": m.text,
                "date": m.date.isoformat(),
                "views": m.views,
                "views_label": views_label(m.views),
                "edited": m.edited,
                "is_sale": m.is_sale,
                "media": list(m.media),
                "contacts": [{"kind": k, "handle": h} for k, h in m.contacts],
                "crypto": [{"chain": k, "address": a} for k, a in m.crypto],
            }
            for c in self.channels.values()
            for m in sorted(c.messages.values(), key=lambda m: m.msg_id)
        ]

    # -- serving ---------------------------------------------------------------------------------
    def app(self) -> web.Application:
        app = web.Application()
        app.add_routes([web.get("/s/{channel}", self._preview)])
        return app

    async def _preview(self, request: web.Request) -> web.Response:
        self.stats["pages"] += 1
        self.hits.append(request.path_qs)
        channel = self.channels.get(request.match_info["channel"])
        if channel is None:
            raise web.HTTPFound("/")  # t.me sends an unknown channel to its home page
        try:
            before = int(request.query["before"]) if "before" in request.query else None
        except ValueError:
            raise web.HTTPBadRequest() from None
        with self._lock:
            ids = sorted(i for i in channel.messages if before is None or i < before)
            page = ids[-self.page_size :]
            blocks = "".join(message_html(channel, channel.messages[i]) for i in page)
        older = bool(page) and ids.index(page[0]) > 0
        head_prev = f'<link rel="prev" href="/s/{channel.name}?before={page[0]}">' if older else ""
        more = (
            f'<a href="/s/{channel.name}?before={page[0]}" class="tme_messages_more js-messages_more" '
            f'data-before="{page[0]}"></a>'
            if older
            else ""
        )
        html = (
            f'<!DOCTYPE html><html><head><meta charset="utf-8"><title>{escape(channel.title)} – Telegram</title>'
            f'<link rel="canonical" href="{PUBLIC_BASE}/s/{channel.name}">{head_prev}</head>'
            f'<body class="widget_frame_base tgme_webpreview">'
            f'<header class="tgme_header"><div class="tgme_channel_info_header">'
            f'<div class="tgme_channel_info_header_title"><span dir="auto">{escape(channel.title)}</span></div>'
            f'<div class="tgme_channel_info_header_username"><a href="{PUBLIC_BASE}/{channel.name}">@{channel.name}'
            f"</a></div></div></header>"
            f'<main class="tgme_main"><section class="tgme_channel_history js-message_history">{more}{blocks}'
            f"</section></main></body></html>"
        )
        return web.Response(text=html, content_type="text/html")

    # -- standalone serving (tests): one loop in a thread, the name mapped on the proxy ----------
    def serve(self, proxy: Any) -> TelegramSite:
        ready = threading.Event()

        def run() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop

            async def up() -> None:
                self._runner = web.AppRunner(self.app(), access_log=None, handle_signals=False)
                await self._runner.setup()
                await web.TCPSite(self._runner, "127.0.0.1", 0).start()
                self.port = int(self._runner.addresses[0][1])

            loop.run_until_complete(up())
            ready.set()
            loop.run_forever()
            if self._runner is not None:
                loop.run_until_complete(self._runner.cleanup())
            loop.close()

        self._thread = threading.Thread(target=run, name="sim-telegram", daemon=True)
        self._thread.start()
        if not ready.wait(15):
            raise RuntimeError("simulated Telegram site did not start")
        self._proxy = proxy
        for host in self.onion_hosts:
            proxy.add(host, ("127.0.0.1", self.port))
        return self

    def stop(self) -> None:
        for host in self.onion_hosts:
            self._proxy.remove(host)
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
            if self._thread is not None:
                self._thread.join(10)
            self._loop = None


def default_channels(seed: int = 13, size: int = 120) -> list[TgChannel]:
    """The three simulated channels: one that sells, one that discusses, one that mixes."""
    return [
        generate_channel("frosty_menu", "sells", size, seed=seed, title="❄️ Frosty Menu ❄️"),
        generate_channel("safer_nights", "discusses", size, seed=seed, title="Safer Nights"),
        generate_channel("city_talk_420", "mixes", size, seed=seed, title="City Talk 420"),
    ]
