"""``SimulatedWorld``: two onion markets, a forum and a JavaScript social timeline (and, on request,
a hostile site, the Telegram preview and two markets of layouts the crawler's authors did not
write) on loopback, reachable by ``.onion`` names through a SOCKS5 proxy.

One asyncio loop in a background thread serves every site (aiohttp), so the world costs one
thread whatever its size.  The onion names are stable (derived from the site names) and the
bundled site profiles in ``crawlers/profiles`` point at them, so ``.profiles_dir`` works as is.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from pathlib import Path
from typing import Any

from aiohttp import web

from crawlers.simsites.cinder import CinderSite
from crawlers.simsites.data import generate_market, generate_posts, onion_name
from crawlers.simsites.forum import ForumSite, SocialSite
from crawlers.simsites.hostile import HostileSite
from crawlers.simsites.market import Faults, MarketSite
from crawlers.simsites.steppe import SteppeSite
from crawlers.simsites.telegram import TelegramSite, default_channels
from dragnet.services.socks_proxy import SocksProxy
from dragnet.settings import get_settings
from extract.rates import rate_table

log = logging.getLogger(__name__)

PROFILES_DIR = Path(__file__).resolve().parent.parent / "profiles"

# Stable onion names of the simulated sites (the bundled profiles use the same names).
HOSTS: dict[str, list[str]] = {
    "nightshade": [onion_name("nightshade-1"), onion_name("nightshade-2")],
    "velvet": [onion_name("velvet-1"), onion_name("velvet-2")],
    "tavern": [onion_name("tavern-1")],
    "chatter": [onion_name("chatter-1")],
    "hostile": [onion_name("hostile-1")],
    # opt-in (``extra_markets=True``): layouts the crawler's authors did not write
    "cinder": [onion_name("cinder-1")],
    "steppe": [onion_name("steppe-1")],
}

Site = MarketSite | ForumSite | SocialSite | HostileSite | TelegramSite | CinderSite | SteppeSite


class SimulatedWorld:
    """Context manager; ``with SimulatedWorld(60) as world: world.proxy_url, world.sites[...]``.

    ``faults``/``gates``/``logins`` switch off the markets' 429/5xx/session-expiry, first-visit
    gates and login walls (benchmarks measure throughput, not recovery); ``index_vendor_links``
    links each vendor's page from Nightshade's index rows; ``hostile`` adds the
    trap site, ``telegram`` the public Telegram preview (``t.me.test``, three channels).
    ``extra_markets`` adds ``cinder`` (a ledger table market, vendor pages linked from the index)
    and ``steppe`` (a Russian-language dead-drop shop with price tiers in tenge), whose ground
    truth also covers vendor pages, offers, locations and attributes.
    """

    def __init__(
        self,
        listings_per_market: int = 60,
        proxy: Any | None = None,
        *,
        seed: int = 13,
        forum_posts: int = 60,
        social_posts: int = 40,
        faults: bool = True,
        gates: bool = True,
        hostile: bool = False,
        data_dir: Path | None = None,
        session_views: int = 40,
        logins: bool = True,
        telegram: bool = False,
        index_vendor_links: bool = False,
        extra_markets: bool = False,
    ) -> None:
        settings = get_settings()
        data_dir = data_dir or settings.training_data_dir
        rates = rate_table(settings).latest()  # the crypto figures the markets show beside fiat
        self._own_proxy = proxy is None
        self.proxy = proxy
        self.seed = seed
        fault_cfg = Faults(enabled=faults, session_views=session_views if faults else 10**9)
        nightshade = generate_market(
            "nightshade", listings_per_market, data_dir=data_dir, seed=seed, fiat="USD", crypto="BTC", rates=rates
        )
        velvet = generate_market(
            "velvet", listings_per_market, data_dir=data_dir, seed=seed, fiat="EUR", crypto="XMR", rates=rates
        )
        self.sites: dict[str, Site] = {
            "nightshade": MarketSite(
                "nightshade",
                "table",
                nightshade,
                HOSTS["nightshade"],
                title="Nightshade Market",
                faults=fault_cfg,
                page_size=20,
                gate=gates,
                login=logins,
                index_vendor_links=index_vendor_links,
            ),
            "velvet": MarketSite(
                "velvet",
                "cards",
                velvet,
                HOSTS["velvet"],
                title="Velvet Bazaar",
                faults=Faults(enabled=faults, session_views=fault_cfg.session_views),
                page_size=15,
                gate=gates,
                login=logins,
            ),
            "tavern": ForumSite(
                "tavern",
                generate_posts(
                    "tavern",
                    forum_posts,
                    data_dir=data_dir,
                    seed=seed,
                    threads=max(1, forum_posts // 12),
                    boards=("market-talk", "harm-reduction", "offtopic"),
                ),
                HOSTS["tavern"],
                title="The Tavern",
            ),
            "chatter": SocialSite(
                "chatter",
                generate_posts("chatter", social_posts, data_dir=data_dir, seed=seed),
                HOSTS["chatter"],
                title="Chatter",
            ),
        }
        if hostile:
            self.sites["hostile"] = HostileSite(HOSTS["hostile"])
        if telegram:
            self.sites["telegram"] = TelegramSite(default_channels(seed))
        if extra_markets:
            self.sites["cinder"] = CinderSite(HOSTS["cinder"], seed=seed)
            self.sites["steppe"] = SteppeSite(HOSTS["steppe"], seed=seed)
        self.profiles_dir = PROFILES_DIR
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runners: list[web.AppRunner] = []

    # -- life cycle ----------------------------------------------------------------------------
    def start(self) -> SimulatedWorld:
        ready = threading.Event()
        errors: list[BaseException] = []

        def run() -> None:
            loop = asyncio.new_event_loop()
            asyncio.set_event_loop(loop)
            self._loop = loop
            try:
                loop.run_until_complete(self._serve_all())
            except BaseException as exc:  # noqa: BLE001 - reported to the starting thread
                errors.append(exc)
                ready.set()
                return
            ready.set()
            loop.run_forever()
            for runner in self._runners:
                loop.run_until_complete(runner.cleanup())
            loop.close()

        self._thread = threading.Thread(target=run, name="simulated-world", daemon=True)
        self._thread.start()
        ready.wait(30)
        if errors:
            raise errors[0]
        if self.proxy is None:
            self.proxy = SocksProxy().start()
        for site in self.sites.values():
            for host in site.onion_hosts:
                self.proxy.add(host, ("127.0.0.1", site.port))
        log.info("simulated world up: %s", ", ".join(f"{n}={s.onion_host}" for n, s in self.sites.items()))
        return self

    async def _serve_all(self) -> None:
        for site in self.sites.values():
            runner = web.AppRunner(site.app(), access_log=None, handle_signals=False)
            await runner.setup()
            tcp = web.TCPSite(runner, "127.0.0.1", 0, backlog=1024)
            await tcp.start()
            site.port = int(runner.addresses[0][1])  # the port the OS picked
            self._runners.append(runner)

    def stop(self) -> None:
        if self.proxy is not None:
            for site in self.sites.values():
                for host in site.onion_hosts:
                    self.proxy.remove(host)
            if self._own_proxy:
                self.proxy.stop()
                self.proxy = None
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
            if self._thread is not None:
                self._thread.join(15)
            self._loop = None

    def __enter__(self) -> SimulatedWorld:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- what the tests and the demo read --------------------------------------------------------
    @property
    def proxy_url(self) -> str:
        if self.proxy is None:
            raise RuntimeError("the world is not started")
        return self.proxy.url

    def ground_truth(self) -> dict[str, list[dict[str, Any]]]:
        """What every site serves: ``{site name: [record, ...]}`` (listings or posts)."""
        return {name: site.ground_truth() for name, site in self.sites.items()}

    def markets(self) -> list[MarketSite]:
        return [s for s in self.sites.values() if isinstance(s, MarketSite)]

    def take_down(self, host: str) -> None:
        """Make one onion name unreachable (a mirror going down), as Tor answers a dead descriptor."""
        if self.proxy is not None:
            self.proxy.remove(host)
