"""Unit tests of the crawler's parts that need no crawl: profile validation, parsing of
structured fields, the session store, URL shapes and private-target detection, the SOCKS5
endpoint (against the real SOCKS5 proxy) and the handoff pipeline."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from aiohttp import web
from scrapy.statscollectors import MemoryStatsCollector
from scrapy.utils.test import get_crawler
from typer.testing import CliRunner

from crawlers.middlewares import is_private_host, retry_after_seconds, url_shape
from crawlers.pipelines import HandoffPipeline
from crawlers.profiles import ProfileError, find_profile, load_profile
from crawlers.sessions import SessionStore
from dragnet.cli import app as cli_app
from dragnet.documents import Listing
from dragnet.settings import DragnetSettings
from tests.crawlers.conftest import REPO


def test_bundled_profiles_are_valid() -> None:
    for name in ("nightshade", "velvet", "tavern", "chatter", "hostile"):
        profile = find_profile(name)
        assert profile.name == name
        assert all(h.endswith(".onion") for h in profile.hosts)


@pytest.mark.parametrize(
    "body, message",
    [
        ("name: x\nkind: market\nstart_urls: [http://a.onion/]\n", "needs 'listing'"),
        ("name: x\nkind: forum\nstart_urls: [http://a.onion/]\n", "needs 'posts'"),
        (
            "name: x\nkind: market\nstart_urls: [ftp://a/]\nlisting: {links: a, detail_url: x}\n"
            "fields: {title: {css: h1}, price: {css: p, first: true}}\n",
            "start_urls",
        ),
        (
            "name: x\nkind: market\nstart_urls: [http://a.onion/]\nlisting: {links: 'a[', detail_url: x}\n"
            "fields: {title: {css: h1}, price: {css: p, first: true}}\n",
            "invalid CSS selector",
        ),
        (
            "name: x\nkind: market\nstart_urls: [http://a.onion/]\nlisting: {links: a, detail_url: '('}\n"
            "fields: {title: {css: h1}, price: {css: p, first: true}}\n",
            "invalid regex",
        ),
        (
            "name: x\nkind: market\nstart_urls: [http://a.onion/]\nlisting: {links: a, detail_url: x}\n"
            "fields: {title: {css: h1}}\n",
            "needs fields ['price']",
        ),
        (
            "name: x\nkind: market\nstart_urls: [http://a.onion/]\ngate: {markers: [x], solve: form}\n"
            "listing: {links: a, detail_url: x}\nfields: {title: {css: h1}, price: {css: p, first: true}}\n",
            "form_css",
        ),
        ("name: x\nkind: blog\nstart_urls: [http://a.onion/]\n", "kind"),
        (
            "name: x\nkind: social\nstart_urls: [http://a.onion/]\nposts: {container: a, url: a, author: a, text: a}\n"
            "colour: red\n",
            "colour",
        ),
        ("- not a mapping\n", "must be a mapping"),
        ("name: [unclosed\n", "not valid YAML"),
    ],
)
def test_invalid_profiles_fail_with_a_clear_message(tmp_path: Path, body: str, message: str) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(body)
    with pytest.raises(ProfileError) as info:
        load_profile(path)
    assert message in str(info.value) and str(path) in str(info.value)


def test_unknown_profile_lists_the_known_ones() -> None:
    with pytest.raises(ProfileError, match="nightshade"):
        find_profile("no-such-market")


def test_session_store_import_lifts_pause(settings) -> None:
    store = SessionStore(settings)
    store.pause("velvet", "gate", url="http://x.onion/")
    assert store.paused("velvet")["reason"] == "gate"
    cookies = store.import_cookie("velvet", "cf_clearance=abc; other=1")
    assert cookies == {"cf_clearance": "abc", "other": "1"}
    assert store.paused("velvet") is None and store.cookies("velvet") == cookies
    with pytest.raises(ValueError):
        store.import_cookie("velvet", "   ")
    with pytest.raises(ValueError):
        store.cookies("../etc")


def test_private_hosts_and_url_shapes() -> None:
    for host in ("127.0.0.1", "localhost", "10.1.2.3", "192.168.0.1", "[::1]", "169.254.1.1", "0.0.0.0"):
        assert is_private_host(host), host
    for host in ("example.org", "8.8.8.8", "hri3ys4cen3j4cpu2kv4igce2kheax2ndwj753u2x7oq22vsjcavhm2i.onion"):
        assert not is_private_host(host), host
    assert url_shape("http://a.onion/calendar/2026-01-03") == url_shape("http://a.onion/calendar/1999-12-31")
    assert url_shape("http://a.onion/item/1?page=2") != url_shape("http://a.onion/vendor/x")
    assert retry_after_seconds(b"7") == 7.0
    assert retry_after_seconds("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0
    assert retry_after_seconds(None) is None


def test_handoff_pipeline_batches_to_the_sink() -> None:
    batches: list[list[Listing]] = []
    stats = MemoryStatsCollector(get_crawler())
    pipeline = HandoffPipeline(batches.append, batch_size=3, stats=stats)
    items = [Listing.new(f"http://a.onion/item/{i}", source_kind="market", title=f"t{i}") for i in range(7)]

    async def run() -> None:
        for item in items:
            assert await pipeline.process_item(item) is item
        await pipeline.close_spider()

    asyncio.run(run())
    assert [len(b) for b in batches] == [3, 3, 1]
    assert [i.id for b in batches for i in b] == [i.id for i in items]
    assert stats.get_value("dragnet/handoff/listings") == 7


SOCKS_CLIENT = """
import json, sys
from twisted.internet import defer, reactor
from twisted.web.client import HTTPConnectionPool, readBody
from crawlers.socks import SocksAgent, SocksError
proxy, onion, missing = sys.argv[1:4]
results = {}

@defer.inlineCallbacks
def fetch():
    try:
        agent = SocksAgent.through(reactor, proxy, ("dragnet-unit", "isolate"), 10, None,
                                   HTTPConnectionPool(reactor, persistent=False))
        response = yield agent.request(b"GET", f"http://{onion}/".encode())
        results["body"] = (yield readBody(response)).decode()
        try:
            yield agent.request(b"GET", f"http://{missing}/".encode())
        except SocksError as exc:
            results["error"] = str(exc)
    finally:
        reactor.stop()

reactor.callWhenRunning(fetch)
reactor.run()
print(json.dumps(results))
"""


@pytest.mark.integration
def test_socks_endpoint_through_the_proxy(socks_proxy) -> None:
    """The Twisted SOCKS5 endpoint reaches an onion name through the real proxy with the
    credentials it was given, and an unknown onion fails with the proxy's answer.  (The
    Twisted side runs in a child process: a reactor runs once per process.)"""

    async def hello(request: web.Request) -> web.Response:
        return web.Response(text=f"hello {request.host}")

    loop = asyncio.new_event_loop()
    app = web.Application()
    app.add_routes([web.get("/", hello)])
    runner = web.AppRunner(app)
    loop.run_until_complete(runner.setup())
    site = web.TCPSite(runner, "127.0.0.1", 0)
    loop.run_until_complete(site.start())
    port = site._server.sockets[0].getsockname()[1]
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    onion, missing = "a" * 56 + ".onion", "b" * 56 + ".onion"
    socks_proxy.add(onion, ("127.0.0.1", port))
    try:
        proc = subprocess.run(
            [sys.executable, "-c", SOCKS_CLIENT, socks_proxy.url, onion, missing],
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=60,
        )
    finally:
        socks_proxy.remove(onion)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(5)
    results = json.loads(proc.stdout.strip().splitlines()[-1]) if proc.stdout.strip() else {}
    assert results.get("body") == f"hello {onion}", proc.stderr[-2000:]
    assert "host unreachable" in results["error"]
    assert "dragnet-unit:isolate" in socks_proxy.stats.credentials_by_host[onion]


@pytest.mark.parametrize(
    ("header", "bad"),
    [
        ('cf_clearance=abc; "broken; session=xyz', "pair 2"),
        ("ok=1; no-equals-sign; session=xyz", "pair 2"),
        ("ok=1; sp ace=2", "pair 2"),
        ("ok=1; bad=va lue", "'bad'"),
    ],
)
def test_a_cookie_header_with_a_bad_pair_imports_nothing_and_names_it(
    settings: DragnetSettings, header: str, bad: str
) -> None:
    store = SessionStore(settings)
    store.import_cookie("velvet", "session=old")
    with pytest.raises(ValueError, match=bad):
        store.import_cookie("velvet", header)
    assert store.cookies("velvet") == {"session": "old"}  # the earlier session is kept, whole


def test_session_import_cli_reports_each_cookie_and_what_it_replaced(settings: DragnetSettings) -> None:
    runner = CliRunner()
    first = runner.invoke(cli_app, ["session", "import", "velvet", "a=1; b=2"])
    assert first.exit_code == 0 and "2 cookie(s) stored (a, b)" in first.output
    second = runner.invoke(cli_app, ["session", "import", "velvet", 'c="3"'])
    assert second.exit_code == 0 and "replaced 2 earlier cookie(s)" in second.output
    bad = runner.invoke(cli_app, ["session", "import", "velvet", "d=4; =5"])
    assert bad.exit_code == 2 and "nothing imported" in bad.output
    assert SessionStore(settings).cookies("velvet") == {"c": "3"}
