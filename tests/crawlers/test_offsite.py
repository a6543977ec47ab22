"""Offsite policy: a market crawl follows links only to the market's own onion names (start
URLs, mirrors) and the hosts its profile lists in ``follow_hosts``; every other link is counted
and logged, never fetched, and a redirect off the site is held to the same list."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from tests.crawlers.conftest import run_crawl_subprocess
from tests.crawlers.sites import LoopbackSite
from tests.crawlers.test_address_guard import market_profile

pytestmark = pytest.mark.integration

PRIMARY, MIRROR = "p" * 56 + ".onion", "m" * 56 + ".onion"
STRANGER, TRACKER = "s" * 56 + ".onion", "t" * 56 + ".onion"

DETAIL = '<html><h1 class="title">Listing {n}</h1><span class="fiat">$1{n}.00</span></html>'


def _page(html: str) -> Any:
    async def handler(request: web.Request) -> web.StreamResponse:
        return web.Response(text=html, content_type="text/html")

    return handler


async def _offsite_redirect(request: web.Request) -> web.StreamResponse:
    raise web.HTTPFound(f"http://{STRANGER}/item/9")


INDEX = f"""<html>
<a class="item-link" href="/item/1">own</a>
<a class="item-link" href="http://{MIRROR}/item/2">mirror</a>
<a class="item-link" href="http://{STRANGER}/item/3">a stranger's shop</a>
<a class="item-link" href="http://{TRACKER}/item/4">a tracker</a>
<a class="item-link" href="http://{STRANGER}/item/5">a stranger again</a>
<a class="item-link" href="/item/6">redirects off the site</a>
</html>"""


def _crawl(socks_proxy: Any, settings: Any, tmp_path: Path, **profile_extra: Any) -> tuple[Any, dict[str, Any]]:
    routes = {"/": _page(INDEX), "/item/6": _offsite_redirect}
    routes.update({f"/item/{n}": _page(DETAIL.format(n=n)) for n in (1, 2, 3, 4, 5, 9)})
    sites = {name: LoopbackSite(routes).start() for name in (PRIMARY, MIRROR, STRANGER, TRACKER)}
    try:
        for name, site in sites.items():
            socks_proxy.add(name, ("127.0.0.1", site.port))
        profile = market_profile(
            tmp_path / "profiles" / "shop.yaml",
            "shop",
            [f"http://{PRIMARY}/"],
            mirrors=[f"http://{MIRROR}/"],
            **profile_extra,
        )
        run = run_crawl_subprocess(
            [str(profile)], data_dir=settings.paths.data_dir, proxy_url=socks_proxy.url, out=tmp_path / "items.jsonl"
        )
    finally:
        for name, site in sites.items():
            socks_proxy.remove(name)
            site.stop()
    return run, {name: site.hits for name, site in sites.items()}


def test_market_follows_only_its_own_onion_and_mirrors(socks_proxy, settings, tmp_path: Path) -> None:
    run, hits = _crawl(socks_proxy, settings, tmp_path)
    assert sorted(hits[PRIMARY]) == ["/", "/item/1", "/item/6"]
    assert hits[MIRROR] == ["/item/2"]
    assert hits[STRANGER] == [] and hits[TRACKER] == []
    assert sorted(item.title for item in run.listings) == ["Listing 1", "Listing 2"]
    stats = run.site("shop")
    assert stats["dragnet/offsite/refused"] == 3  # two links to the stranger, one to the tracker
    assert stats["dragnet/offsite/hosts"] == 2
    assert stats["offsite/filtered"] == 1  # the redirect off the site
    assert f"shop: refused 3 offsite links to 2 hosts ({STRANGER}, {TRACKER})" in run.log


def test_profile_follow_hosts_admits_a_named_host(socks_proxy, settings, tmp_path: Path) -> None:
    run, hits = _crawl(socks_proxy, settings, tmp_path, follow_hosts=[TRACKER])
    assert hits[TRACKER] == ["/item/4"]
    assert hits[STRANGER] == []
    assert run.site("shop")["dragnet/offsite/refused"] == 2
