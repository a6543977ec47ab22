"""``MarketFleet``: many simulated markets for benchmarks (``dragnet bench pipeline``), generated
from the two market templates (table-style Nightshade, card-style Velvet) with distinct names,
onion names and seeds, and a site profile for each written to a directory of the caller's.

The fleet is served like :class:`SimulatedWorld` (one aiohttp loop in one thread, one loopback
port per market) and renders each page when it is asked for; only the listings' records are
held.  Benchmarks measure throughput, so gates, login walls and faults are off, and vendors share
a small pool of PGP keys per market (key generation, not serving, would otherwise dominate the
build of a 50,000-listing fleet).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from crawlers.simsites.data import MarketData, VendorRecord, generate_market, make_vendor_key, onion_name
from crawlers.simsites.market import Faults, MarketSite
from crawlers.simsites.world import PROFILES_DIR, SimulatedWorld
from dragnet.settings import get_settings
from extract.rates import rate_table

# template -> (site style, page size, fiat, crypto, title)
TEMPLATES: dict[str, tuple[str, int, str, str, str]] = {
    "nightshade": ("table", 20, "USD", "BTC", "Nightshade Market"),
    "velvet": ("cards", 15, "EUR", "XMR", "Velvet Bazaar"),
}
KEYS_PER_MARKET = 8


def market_sizes(markets: int, listings: int) -> list[int]:
    """``listings`` spread over ``markets`` as evenly as whole listings allow."""
    if markets < 1 or listings < markets:
        raise ValueError(f"need at least one listing per market (markets={markets}, listings={listings})")
    base, extra = divmod(listings, markets)
    return [base + (1 if index < extra else 0) for index in range(markets)]


def _pooled_vendors(data: MarketData, label: str) -> MarketData:
    pool = [make_vendor_key(f"{label}-key-{n}") for n in range(KEYS_PER_MARKET)]
    vendors = {}
    for index, name in enumerate(sorted(data.vendors)):
        key = pool[index % len(pool)]
        vendors[name] = VendorRecord(name, key.pgp_public_key, key.pgp_fingerprint)
    return MarketData(items=data.items, vendors=vendors)


class MarketFleet(SimulatedWorld):
    """``with MarketFleet(20, 50_000, profiles_dir=tmp) as fleet: fleet.profile_paths``.

    Market ``i`` is ``fleet-<template>-<i>``, alternating templates; ``direct=True`` (default)
    writes profiles that crawl the loopback ports straight (the crawl needs
    ``crawl.allowed_private_hosts = ["127.0.0.1"]``), ``direct=False`` the onion names through
    :attr:`proxy_url`.
    """

    def __init__(
        self,
        markets: int,
        listings: int,
        *,
        profiles_dir: Path,
        seed: int = 101,
        direct: bool = True,
        proxy: Any | None = None,
    ) -> None:
        settings = get_settings()
        data_dir = settings.training_data_dir
        rates = rate_table(settings).latest()  # the crypto figures the markets show beside fiat
        self._own_proxy = proxy is None
        self.proxy = proxy
        self.seed = seed
        self.direct = direct
        self.sites = {}
        names = list(TEMPLATES)
        for index, count in enumerate(market_sizes(markets, listings)):
            template = names[index % len(names)]
            style, page_size, fiat, crypto, title = TEMPLATES[template]
            name = f"fleet-{template}-{index:02d}"
            data = generate_market(
                name,
                count,
                data_dir=data_dir,
                seed=seed + index,
                fiat=fiat,
                crypto=crypto,
                rates=rates,
                make_keys=False,
            )
            self.sites[name] = MarketSite(
                name,
                style,
                _pooled_vendors(data, name),
                [onion_name(f"{name}-1"), onion_name(f"{name}-2")],
                title=f"{title} {index:02d}",
                faults=Faults(enabled=False, session_views=10**9),
                page_size=page_size,
                gate=False,
                login=False,
            )
        self.templates = {name: names[index % len(names)] for index, name in enumerate(self.sites)}
        self.profiles_dir = Path(profiles_dir)
        self._loop = None
        self._thread = None
        self._runners = []

    def start(self) -> MarketFleet:
        super().start()
        self.write_profiles()
        return self

    def __enter__(self) -> MarketFleet:
        return self.start()

    def url_base(self, site: MarketSite) -> str:
        return site.direct_url if self.direct else site.base_url

    def write_profiles(
        self, directory: Path | None = None, names: list[str] | None = None, *, delay_s: float | None = None
    ) -> list[Path]:
        """One profile per market (``names``: a subset) in ``directory`` (default: the fleet's);
        ``delay_s`` paces each market to one request per ``delay_s`` seconds."""
        directory = Path(directory or self.profiles_dir)
        directory.mkdir(parents=True, exist_ok=True)
        paths = []
        for name in names or list(self.sites):
            site = self.sites[name]
            assert isinstance(site, MarketSite)
            profile = yaml.safe_load((PROFILES_DIR / f"{self.templates[name]}.yaml").read_text())
            profile.pop("mirrors", None)
            profile.pop("signed_mirrors_path", None)
            profile.pop("gate", None)
            profile.update(
                name=name, title=site.title, start_urls=[self.url_base(site) + site.index_path(1)], max_depth=100_000
            )
            if delay_s is not None:
                profile.update(delay_s=delay_s, concurrency=1)
            path = directory / f"{name}.yaml"
            path.write_text(yaml.safe_dump(profile, sort_keys=False))
            paths.append(path)
        return paths

    @property
    def profile_paths(self) -> list[Path]:
        return [self.profiles_dir / f"{name}.yaml" for name in self.sites]

    def listing_urls(self, names: list[str] | None = None) -> list[str]:
        """The detail-page URL of every listing (of ``names``), as the crawl will see it."""
        urls = []
        for name in names or list(self.sites):
            site = self.sites[name]
            assert isinstance(site, MarketSite)
            base = self.url_base(site)
            urls += [base + site.item_path(item) for item in site.data.items]
        return urls

    def pages(self, name: str) -> int:
        """Requests a full crawl of market ``name`` makes: index, detail and vendor pages."""
        site = self.sites[name]
        assert isinstance(site, MarketSite)
        return site.pages + len(site.data.items) + len(site.data.vendors) + 1
