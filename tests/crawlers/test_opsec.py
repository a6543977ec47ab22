"""OPSEC: a crawl through the SOCKS5 proxy opens no connection and makes no name lookup of its
own (a socket audit hook in the crawl process records every connect and lookup), and the
Chromium social spider sends nothing around the proxy (WebRTC/STUN, fetch(), <img>)."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from aiohttp import web

from crawlers.spiders.social import hardened_args, sandbox_support
from dragnet.services.socks_proxy import SocksProxy
from tests.crawlers.conftest import REPO, run_crawl_subprocess
from tests.crawlers.sites import LoopbackSite, PortWatch
from tests.crawlers.test_address_guard import market_profile

pytestmark = pytest.mark.integration

COOKIE_SHOP = "c" * 56 + ".onion"

AUDITED_RUNNER = """
import atexit, json, os, sys
events = []

def hook(event, args):
    if event in ("socket.connect", "socket.getaddrinfo", "socket.gethostbyname", "socket.gethostbyname_ex",
                 "socket.gethostbyaddr", "socket.sendto", "socket.sendmsg"):
        if event == "socket.connect" or event.startswith("socket.send"):
            events.append([event, repr(args[-1])])
        else:
            events.append([event, repr(args[0])])

def dump():
    with open(os.environ["AUDIT_LOG"], "w") as out:
        json.dump(events, out)

sys.addaudithook(hook)
atexit.register(dump)
from crawlers.runner import main
main(sys.argv[1:])
"""


def _cookie_page(html: str) -> Any:
    async def handler(request: web.Request) -> web.StreamResponse:
        response = web.Response(text=html, content_type="text/html")
        # A Domain attribute makes Scrapy's cookie jar ask the public-suffix list about it.
        response.set_cookie("sid", f"s{len(request.path)}", domain=f".{COOKIE_SHOP}", path="/")
        return response

    return handler


def test_crawl_with_cookies_connects_to_nothing_but_the_proxy(socks_proxy, settings, tmp_path: Path) -> None:
    index = '<html><a class="item-link" href="/item/1">1</a><a class="item-link" href="/item/2">2</a></html>'
    detail = '<html><h1 class="title">Item</h1><span class="fiat">$5.00</span></html>'
    routes = {"/": _cookie_page(index), "/item/1": _cookie_page(detail), "/item/2": _cookie_page(detail)}
    runner = tmp_path / "audited_runner.py"
    runner.write_text(AUDITED_RUNNER)
    audit = tmp_path / "audit.json"
    with LoopbackSite(routes) as shop:
        socks_proxy.add(COOKIE_SHOP, ("127.0.0.1", shop.port))
        try:
            profile = market_profile(tmp_path / "profiles" / "cookies.yaml", "cookies", [f"http://{COOKIE_SHOP}/"])
            run = run_crawl_subprocess(
                [str(profile)],
                data_dir=settings.paths.data_dir,
                proxy_url=socks_proxy.url,
                out=tmp_path / "items.jsonl",
                argv0=[sys.executable, str(runner)],
                # An empty public-suffix cache: a crawl that would fetch the list must try it here.
                env={"AUDIT_LOG": str(audit), "PYTHONPATH": str(REPO), "TLDEXTRACT_CACHE": str(tmp_path / "psl")},
            )
        finally:
            socks_proxy.remove(COOKIE_SHOP)
    assert len(run.listings) == 2, run.log[-3000:]
    # The cookies were kept and sent back: the cookie jar (and its public-suffix check) ran.
    assert any("sid=" in (r.headers.get("Cookie") or "") for r in shop.requests)
    events = json.loads(audit.read_text())
    proxy = repr(("127.0.0.1", socks_proxy.port))
    assert [e for e in events if e[0] == "socket.connect"], "the audit hook saw no connection at all"
    strays = [e for e in events if not (e[0] == "socket.connect" and e[1] == proxy)]
    assert strays == [], f"the crawl reached past the proxy: {strays[:10]}"
    assert sorted(shop.hits) == ["/", "/item/1", "/item/2"]
    assert socks_proxy.stats.by_host[COOKIE_SHOP] >= 1  # ...reached through the proxy


LEAKY_PAGE = """<html><body>
<article class="post"><a class="permalink" href="/p/1">@someone</a><div class="text">only post</div></article>
<img src="http://127.0.0.1:{port}/img.png">
<script>
  fetch("http://127.0.0.1:{port}/fetch").catch(() => {{}});
  try {{
    const pc = new RTCPeerConnection({{iceServers: [{{urls: "stun:127.0.0.1:{port}"}}]}});
    pc.createDataChannel("probe");
    pc.createOffer().then((offer) => pc.setLocalDescription(offer));
  }} catch (e) {{}}
  setTimeout(() => {{ document.body.dataset.end = "1"; }}, 4000);
</script>
</body></html>"""


@pytest.mark.slow
def test_chromium_sends_nothing_around_the_proxy(settings, tmp_path: Path) -> None:
    """A page served through the proxy tries WebRTC with a STUN server, fetch() and an <img>, all
    aimed at another loopback port; that port is watched (TCP and UDP) and nothing may arrive.
    The proxy here refuses loopback targets, so even the proxied attempts end at the proxy."""
    onion = "w" * 56 + ".onion"
    with PortWatch() as watch, SocksProxy(allow_loopback=False) as proxy:

        async def page(request: web.Request) -> web.StreamResponse:
            return web.Response(text=LEAKY_PAGE.format(port=watch.port), content_type="text/html")

        with LoopbackSite({"/": page}) as site:
            proxy.add(onion, ("127.0.0.1", site.port))
            profile = tmp_path / "profiles" / "leaky.yaml"
            profile.parent.mkdir()
            posts = {"container": "article.post", "url": "a.permalink", "author": "a.permalink", "text": "div.text"}
            leaky = {"name": "leaky", "kind": "social", "start_urls": [f"http://{onion}/"], "posts": posts}
            profile.write_text(yaml.safe_dump({**leaky, "max_scrolls": 2}))
            run = run_crawl_subprocess(
                [str(profile)], data_dir=settings.paths.data_dir, proxy_url=proxy.url, out=tmp_path / "items.jsonl"
            )
    assert [item.text for item in run.listings] == ["only post"], run.log[-3000:]
    assert "/" in site.hits
    assert watch.arrivals == [], f"reached the watched port around the proxy: {watch.arrivals}"
    # fetch() and <img> were sent to the proxy (which refused them): they did not go direct.
    assert proxy.stats.by_host["127.0.0.1"] >= 2, dict(proxy.stats.by_host)


def test_chromium_sandbox_state_is_detected_and_logged(settings) -> None:
    sandbox, why = sandbox_support("/usr/bin/chromium")
    if os.geteuid() == 0:
        assert not sandbox and "root" in why
    args = hardened_args(["--no-sandbox", "--disable-gpu"], "socks5://127.0.0.1:9050", sandbox)
    assert ("--no-sandbox" in args) is (not sandbox)
    assert "--force-webrtc-ip-handling-policy=disable_non_proxied_udp" in args
    assert "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1" in args
