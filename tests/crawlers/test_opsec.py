"""OPSEC: a crawl through the SOCKS5 proxy opens no connection and makes no name lookup of its
own (a socket audit hook in the crawl process records every connect and lookup), the rendered
(social) crawl's Python side neither, and the Chromium social spider sends nothing around the
proxy (WebRTC/STUN, fetch(), <img>)."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from aiohttp import web
from scrapy.settings import Settings

from crawlers.browser import CONTEXT, RENDERING_HANDLER, hardened_args, rendering_settings, sandbox_support
from crawlers.spiders.market import MarketSpider
from crawlers.spiders.social import SocialSpider
from dragnet.services.chromium import chromium_path
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
                 "socket.gethostbyaddr", "socket.sendto", "socket.sendmsg", "subprocess.Popen"):
        if event == "subprocess.Popen":
            events.append([event, repr(args[0])])
        elif event == "socket.connect" or event.startswith("socket.send"):
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
    strays = [e for e in events if e[0].startswith("socket.") and not (e[0] == "socket.connect" and e[1] == proxy)]
    assert strays == [], f"the crawl reached past the proxy: {strays[:10]}"
    assert sorted(shop.hits) == ["/", "/item/1", "/item/2"]
    assert socks_proxy.stats.by_host[COOKIE_SHOP] >= 1  # ...reached through the proxy


TIMELINE_PAGE = """<html><body data-end="1">
<article class="post"><a class="permalink" href="/p/1">@alice</a><div class="text">first post</div></article>
<article class="post"><a class="permalink" href="/p/2">@bob</a><div class="text">second post</div></article>
</body></html>"""


@pytest.mark.slow
def test_rendered_crawl_python_side_connects_to_nothing_but_the_proxy(socks_proxy, settings, tmp_path: Path) -> None:
    """The social crawl's own process (Scrapy, scrapy-playwright, the spider, the WARC writer)
    opens no socket and looks up no name: the page is fetched by Chromium, through the proxy set
    on its context (Chromium's own traffic is the STUN/fetch/img test below).  The audit hook saw
    Playwright's driver start, so it was live while the page was rendered."""
    onion = "r" * 56 + ".onion"
    runner = tmp_path / "audited_runner.py"
    runner.write_text(AUDITED_RUNNER)
    audit = tmp_path / "audit.json"

    async def timeline(request: web.Request) -> web.StreamResponse:
        return web.Response(text=TIMELINE_PAGE, content_type="text/html")

    posts = {"container": "article.post", "url": "a.permalink", "author": "a.permalink", "text": "div.text"}
    profile = tmp_path / "profiles" / "rendered.yaml"
    profile.parent.mkdir()
    profile.write_text(
        yaml.safe_dump({"name": "rendered", "kind": "social", "start_urls": [f"http://{onion}/"], "posts": posts})
    )
    with LoopbackSite({"/": timeline}) as site:
        socks_proxy.add(onion, ("127.0.0.1", site.port))
        try:
            run = run_crawl_subprocess(
                [str(profile)],
                data_dir=settings.paths.data_dir,
                proxy_url=socks_proxy.url,
                out=tmp_path / "items.jsonl",
                argv0=[sys.executable, str(runner)],
                env={"AUDIT_LOG": str(audit), "PYTHONPATH": str(REPO)},
            )
        finally:
            socks_proxy.remove(onion)
    assert sorted(item.text for item in run.listings) == ["first post", "second post"], run.log[-3000:]
    assert site.hits == ["/"]
    assert socks_proxy.stats.by_host[onion] >= 1  # Chromium reached it through the proxy
    events = json.loads(audit.read_text())
    assert [e for e in events if e[0] == "subprocess.Popen"], "the audit hook saw no browser start at all"
    proxy = repr(("127.0.0.1", socks_proxy.port))
    strays = [e for e in events if e[0].startswith("socket.") and not (e[0] == "socket.connect" and e[1] == proxy)]
    assert strays == [], f"the rendered crawl reached past the proxy: {strays[:10]}"


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


def test_rendering_enabled_for_the_social_spider_only_with_the_proxy_on_its_context(settings) -> None:
    """The market spider keeps the SOCKS handler; the social spider gets scrapy-playwright's
    handler, Debian's Chromium (never a downloaded build), the hardened switches at launch and
    the crawl's proxy, without its SOCKS credentials, on the browser context its requests use."""
    market, social = Settings({"DRAGNET_SOCKS_URL": "socks5h://u:pw@127.0.0.1:9050"}), Settings()
    social.setdict({"DRAGNET_SOCKS_URL": "socks5h://u:pw@127.0.0.1:9050"})
    MarketSpider.update_settings(market)
    SocialSpider.update_settings(social)
    assert RENDERING_HANDLER not in market.getdict("DOWNLOAD_HANDLERS").values()
    assert "PLAYWRIGHT_LAUNCH_OPTIONS" not in market
    assert social.getdict("DOWNLOAD_HANDLERS") == {"http": RENDERING_HANDLER, "https": RENDERING_HANDLER}
    context = social.getdict("PLAYWRIGHT_CONTEXTS")[CONTEXT]
    assert context["proxy"] == {"server": "socks5://127.0.0.1:9050", "bypass": "<-loopback>"}
    assert context["service_workers"] == "block"
    launch = social.getdict("PLAYWRIGHT_LAUNCH_OPTIONS")
    assert launch["executable_path"] == str(chromium_path())
    assert "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1" in launch["args"]
    assert "--force-webrtc-ip-handling-policy=disable_non_proxied_udp" in launch["args"]
    assert "--proxy-bypass-list=<-loopback>" in launch["args"]
    direct = rendering_settings(settings, "")
    assert "proxy" not in direct["PLAYWRIGHT_CONTEXTS"][CONTEXT] and "proxy" not in direct["PLAYWRIGHT_LAUNCH_OPTIONS"]
