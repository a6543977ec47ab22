"""Simulated onion markets for the lifespan tests: tiny threaded HTTP servers on loopback whose
behaviour the test switches at will (up, slow, HTTP error, gate, login, seizure banner, ...),
reached through the SOCKS5 proxy under v3-looking onion names."""

from __future__ import annotations

import base64
import hashlib
import io
import secrets
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from PIL import Image, ImageDraw

B32 = "abcdefghijklmnopqrstuvwxyz234567"


def onion_name(seed: str) -> str:
    """A deterministic 56-character base32 name (shaped like a v3 onion address)."""
    digest = hashlib.sha256(seed.encode()).digest() + hashlib.sha256(seed.encode() + b"2").digest()
    return "".join(B32[b % 32] for b in digest[:56]) + ".onion"


def listing_page(name: str, n: int = 12, extra: str = "") -> str:
    rows = "".join(
        f"<li><a href='/listing/{i}'>{name} listing {i}: premium product {i * 7 % 13} grams, "
        f"vendor shop{i % 4}, ships worldwide, escrow accepted, price {10 + i} USD</a></li>"
        for i in range(n)
    )
    return (
        f"<html><head><title>{name} Market</title></head><body><h1>Welcome to {name} market</h1>"
        f"<p>The most trusted market since 2024. Use escrow. Check the canary and our signed mirrors.</p>"
        f"{extra}<ul>{rows}</ul><a href='/login'>login</a></body></html>"
    )


SEIZURE_PAGE = (
    "<html><head><title>Seized</title></head><body><h1>THIS HIDDEN SITE HAS BEEN SEIZED</h1>"
    "<p>by the Federal Bureau of Investigation and the Bundeskriminalamt as part of a law "
    "enforcement action coordinated by Europol.</p><img src='/banner.png'></body></html>"
)
IMAGE_ONLY_PAGE = "<html><head><title>Notice</title></head><body><img src='/banner.png'></body></html>"
GATE_PAGE = (
    "<html><head><title>Queue</title></head><body><h2>DDoS protection</h2>"
    "<p>You are in a queue. Solve the captcha to continue.</p><img src='/captcha.png'></body></html>"
)
LOGIN_PAGE = (
    "<html><head><title>Sign in</title></head><body><form method=post action=/login>"
    "Username <input name=u> Password <input type=password name=p><button>Login</button>"
    "</form></body></html>"
)


def banner_png(seed: int = 1) -> bytes:
    """A seizure-banner-like PNG (agency seals as blocks)."""

    img = Image.new("RGB", (240, 120), (10, 20, 60))
    draw = ImageDraw.Draw(img)
    draw.ellipse((10, 10, 110, 110), fill=(200, 170, 40))
    draw.rectangle((130, 20, 230, 100), fill=(230, 230, 230))
    draw.rectangle((140 + seed, 40, 220, 60), fill=(160, 10, 10))
    buf = io.BytesIO()
    img.save(buf, "PNG")
    return buf.getvalue()


class SimMarket:
    """One simulated market site.  ``mode`` picks what every request sees."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.host = onion_name(name)
        self.mode = "up"
        self.delay_s = 0.0
        self.fail_next = 0  # the next N requests to "/" answer 503 (other paths are fine)
        self.files: dict[str, tuple[str, bytes]] = {}
        self.page = listing_page(name)
        self.requests: list[str] = []
        self._lock = threading.Lock()
        market = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                market._serve(self)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self._thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    def start(self) -> SimMarket:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def _send(
        self, h: BaseHTTPRequestHandler, status: int, body: bytes, ctype: str = "text/html; charset=utf-8"
    ) -> None:
        h.send_response(status)
        h.send_header("Content-Type", ctype)
        h.send_header("Content-Length", str(len(body)))
        h.end_headers()
        h.wfile.write(body)

    def _serve(self, h: BaseHTTPRequestHandler) -> None:
        path = h.path
        with self._lock:
            self.requests.append(path)
            fail = self.fail_next > 0 and path == "/"
            if fail:
                self.fail_next -= 1
        if self.delay_s:
            time.sleep(self.delay_s)
        if path in self.files:
            ctype, body = self.files[path]
            return self._send(h, 200, body, ctype)
        if path == "/banner.png":
            return self._send(h, 200, banner_png(), "image/png")
        if fail or self.mode == "error":
            return self._send(h, 503, b"<html><body>Service Unavailable</body></html>")
        page = {
            "up": self.page,
            "seized": SEIZURE_PAGE,
            "image_only": IMAGE_ONLY_PAGE,
            "gate": GATE_PAGE,
            "login": LOGIN_PAGE,
        }.get(self.mode, self.page)
        if self.mode == "withdrawals":
            page = listing_page(
                self.name,
                extra="<div class=notice>Withdrawals are temporarily disabled due to wallet maintenance.</div>",
            )
        return self._send(h, 200, page.encode())


def random_token() -> str:
    return secrets.token_hex(4)


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()
