"""A fake platform for the feed tests: a real HTTP server on loopback that hosts posts (which can
disappear, as a 404/410 or as a "this post has been removed" page) and a webhook receiver that
checks signatures the way a platform's trust-and-safety intake would.  Its HMAC check is written
here from the documented scheme, independently of Dragnet's signing code, so the test would catch
a signature that only Dragnet itself could verify."""

from __future__ import annotations

import hashlib
import hmac
import html
import json
import re
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from classifier.evidence import find_evidence
from dragnet.documents import Classification, Listing
from extract.contacts import extract_contacts


@dataclass
class Captured:
    headers: dict[str, str]
    body: bytes


@dataclass
class FakePlatform:
    replay_window_s: int = 300
    secret: str | None = None
    posts: dict[str, str] = field(default_factory=dict)
    removed: dict[str, str] = field(default_factory=dict)  # post id -> "404" | "410" | "page"
    events: list[dict[str, Any]] = field(default_factory=list)  # accepted, processed once each
    verdicts: list[tuple[int, str]] = field(default_factory=list)  # (status, reason) per webhook request
    captured: list[Captured] = field(default_factory=list)
    fail_next: int = 0
    seen_signatures: dict[str, float] = field(default_factory=dict)
    seen_keys: set[str] = field(default_factory=set)

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        platform = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def _send(self, status: int, body: bytes, ctype: str = "text/html; charset=utf-8") -> None:
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self) -> None:
                m = re.fullmatch(r"/p/([A-Za-z0-9_-]+)/?", self.path)
                if not m:
                    self._send(404, b"<h1>Not found</h1>")
                    return
                post_id = m.group(1)
                mode = platform.removed.get(post_id)
                if mode in ("404", "410"):
                    self._send(int(mode), b"<h1>Sorry, this page isn't available.</h1>")
                elif mode == "page":
                    self._send(
                        200,
                        b"<html><body><div class=notice>This post has been removed for violating "
                        b"our Community Guidelines.</div></body></html>",
                    )
                elif post_id in platform.posts:
                    self._send(
                        200,
                        f"<html><body><article>{html.escape(platform.posts[post_id])}</article></body></html>".encode(),
                    )
                else:
                    self._send(404, b"<h1>Not found</h1>")

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(length)
                if self.path != "/hook":
                    self._send(404, b"")
                    return
                headers = {k.lower(): v for k, v in self.headers.items()}
                status, reason = platform.receive(headers, body)
                with platform._lock:
                    platform.captured.append(Captured(headers, body))
                    platform.verdicts.append((status, reason))
                self._send(status, json.dumps({"result": reason}).encode(), "application/json")

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    # -- the webhook intake -------------------------------------------------------------------
    def receive(self, headers: dict[str, str], body: bytes) -> tuple[int, str]:
        with self._lock:
            if self.fail_next > 0:
                self.fail_next -= 1
                return 503, "temporarily unavailable"
            if self.secret is None:
                return 401, "no secret configured"
            ts_raw = headers.get("x-dragnet-timestamp", "")
            signature = headers.get("x-dragnet-signature", "")
            try:
                ts = int(ts_raw)
            except ValueError:
                return 401, "bad timestamp"
            now = time.time()
            if abs(now - ts) > self.replay_window_s:
                return 401, "stale timestamp"
            expected = "v1=" + hmac.new(self.secret.encode(), ts_raw.encode() + b"." + body, hashlib.sha256).hexdigest()
            # one signature per secret in its rotation overlap, comma-separated: any may match
            if not any(hmac.compare_digest(expected, part.strip()) for part in signature.split(",")):
                return 401, "bad signature"
            # forget signatures older than the window, then refuse any we have seen
            self.seen_signatures = {s: t for s, t in self.seen_signatures.items() if now - t <= self.replay_window_s}
            if signature in self.seen_signatures:
                return 409, "replay"
            self.seen_signatures[signature] = now
            key = headers.get("idempotency-key", "")
            if key in self.seen_keys:
                return 200, "duplicate (already processed)"
            self.seen_keys.add(key)
            self.events.append(json.loads(body))
            return 200, "accepted"

    # -- posts ---------------------------------------------------------------------------------
    def url(self, post_id: str, host: str | None = None) -> str:
        return f"http://{host or f'127.0.0.1:{self.port}'}/p/{post_id}"

    def start(self) -> FakePlatform:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)


def make_hit(
    url: str,
    text: str,
    *,
    score: float = 0.95,
    substances: dict[str, float] | None = None,
    source_kind: str = "social",
    title: str = "",
) -> Listing:
    """A classified hit whose evidence comes from the real rule extractors."""
    evidence = find_evidence(text)
    return Listing.new(
        url,
        source_kind=source_kind,
        title=title,
        text=text,
        contacts=extract_contacts(text),
        classification=Classification(
            is_drug_sale=True,
            score=score,
            threshold=0.5,
            substances=substances if substances is not None else {"benzodiazepines": 0.91},
            model_version="test-model-1",
            evidence=evidence,
        ),
    )
