"""The real parts really start: a document through OpenSearch, a key through Redis, a page in
Chromium through Playwright, and an ``.onion`` fetch through the SOCKS5 proxy."""

from __future__ import annotations

import http.server
import socket
import threading
from collections.abc import Iterator

import httpx
import pytest
import redis
from playwright.sync_api import sync_playwright
from python_socks import ProxyError
from python_socks.sync import Proxy

from dragnet.services.chromium import launch_options

pytestmark = pytest.mark.integration


class _Hello(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = f"<html><body><h1 id='h'>hello from {self.headers['Host']}</h1></body></html>".encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def loopback_site() -> Iterator[int]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Hello)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()


def test_redis_round_trip(redis_server) -> None:
    client = redis.Redis.from_url(redis_server.url)
    client.set("dragnet:test", "value")
    assert client.get("dragnet:test") == b"value"


def test_opensearch_round_trip(opensearch_node) -> None:
    base = opensearch_node.url
    info = httpx.get(base).json()
    assert info["version"]["distribution"] == "opensearch"
    doc = {"title": "20x oxycodone 30mg", "market": "testmarket"}
    put = httpx.put(f"{base}/services-test/_doc/1?refresh=true", json=doc)
    assert put.status_code in (200, 201), put.text
    hits = httpx.post(f"{base}/services-test/_search", json={"query": {"match": {"title": "oxycodone"}}}).json()
    assert hits["hits"]["total"]["value"] == 1
    assert hits["hits"]["hits"][0]["_source"] == doc


def test_socks_proxy_reaches_onion_site(socks_proxy, loopback_site) -> None:
    socks_proxy.add("testmarketxyz.onion", ("127.0.0.1", loopback_site))
    proxy = Proxy.from_url(socks_proxy.url.replace("socks5h", "socks5"), rdns=True)
    sock = proxy.connect(dest_host="testmarketxyz.onion", dest_port=80, timeout=10)
    sock.sendall(b"GET / HTTP/1.0\r\nHost: testmarketxyz.onion\r\n\r\n")
    data = b""
    while chunk := sock.recv(65536):
        data += chunk
    sock.close()
    assert data.startswith(b"HTTP/1.0 200")
    assert b"hello from testmarketxyz.onion" in data
    assert socks_proxy.stats.by_host["testmarketxyz.onion"] >= 1


def test_socks_proxy_with_httpx_and_isolation_credentials(socks_proxy, loopback_site) -> None:
    socks_proxy.add("isolated.onion", ("127.0.0.1", loopback_site))
    for user in ("market-a", "market-b"):
        proxy = Proxy.from_url(f"socks5://{user}:x@127.0.0.1:{socks_proxy.port}", rdns=True)
        sock = proxy.connect(dest_host="isolated.onion", dest_port=80, timeout=10)
        sock.close()
    assert {"market-a:x", "market-b:x"} <= socks_proxy.stats.credentials_by_host["isolated.onion"]


def test_unknown_onion_and_clearnet_are_refused(socks_proxy) -> None:
    proxy = Proxy.from_url(socks_proxy.url.replace("socks5h", "socks5"), rdns=True)
    with pytest.raises(ProxyError):
        proxy.connect(dest_host="doesnotexist.onion", dest_port=80, timeout=10)
    with pytest.raises(ProxyError):
        proxy.connect(dest_host="example.com", dest_port=80, timeout=10)


def test_chromium_renders_through_playwright(chromium_options, loopback_site) -> None:
    with sync_playwright() as pw:
        browser = pw.chromium.launch(**chromium_options)
        try:
            page = browser.new_page()
            page.goto(f"http://127.0.0.1:{loopback_site}/")
            assert page.inner_text("#h").startswith("hello from 127.0.0.1")
        finally:
            browser.close()


def test_chromium_reaches_onion_through_socks(socks_proxy, loopback_site) -> None:
    socks_proxy.add("socialfeed.onion", ("127.0.0.1", loopback_site))
    with sync_playwright() as pw:
        browser = pw.chromium.launch(**launch_options(proxy_server=f"socks5://127.0.0.1:{socks_proxy.port}"))
        try:
            page = browser.new_page()
            page.goto("http://socialfeed.onion/")
            assert "hello from socialfeed.onion" in page.inner_text("#h")
        finally:
            browser.close()


def test_free_ports_are_loopback_only(redis_server) -> None:
    with socket.socket() as sock:
        with pytest.raises(OSError):
            sock.settimeout(1)
            sock.connect(("0.0.0.0", 1))  # nothing of ours listens on a wildcard address
