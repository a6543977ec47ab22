"""Re-crawl a reported post to learn whether the platform took it down.

A platform saying "removed" is one source; seeing the post gone is the other, and the one an
impact figure should rest on.  The fetch goes through the configured proxy (``.onion`` always
through Tor's SOCKS5h, clearnet through ``feeds.recrawl_proxy_url`` when set) with the crawler's
user-agent, reads at most a capped number of bytes, and never executes what it gets.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal
from urllib.parse import urlsplit

import httpx

from dragnet.settings import DragnetSettings, get_settings

MAX_BYTES = 2 * 1024 * 1024
Outcome = Literal["present", "gone", "unknown"]


@dataclass
class RecrawlResult:
    url: str
    outcome: Outcome
    status_code: int | None
    reason: str


def _proxy_for(url: str, settings: DragnetSettings) -> str | None:
    host = (urlsplit(url).hostname or "").lower()
    if host.endswith(".onion"):
        return settings.tor.socks_url
    return settings.feeds.recrawl_proxy_url


def _visible_text(html: str) -> str:
    html = re.sub(r"(?is)<(script|style|noscript)\b.*?</\1>", " ", html)
    return re.sub(r"\s+", " ", re.sub(r"(?s)<[^>]+>", " ", html)).lower()


def classify_response(status: int, body: str, markers: list[str]) -> tuple[Outcome, str]:
    """404/410 mean gone; a 200 whose visible text carries a platform's "post removed" wording
    means gone too (platforms often answer removed content with a normal page); 5xx, 429 and
    other errors say nothing."""
    if status in (404, 410, 451):
        return "gone", f"HTTP {status}"
    if 200 <= status < 300:
        text = _visible_text(body)
        for marker in markers:
            if marker.lower() in text:
                return "gone", f"removal page ({marker!r})"
        return "present", f"HTTP {status}"
    return "unknown", f"HTTP {status}"


def recrawl(url: str, settings: DragnetSettings | None = None, client: httpx.Client | None = None) -> RecrawlResult:
    """Fetch ``url`` once and say whether the post is still there."""
    settings = settings or get_settings()
    own = client is None
    if client is None:
        client = httpx.Client(
            proxy=_proxy_for(url, settings),
            timeout=settings.feeds.recrawl_timeout_s,
            follow_redirects=True,
            headers={"User-Agent": settings.crawl.user_agent},
        )
    try:
        with client.stream("GET", url) as response:
            chunks, size = [], 0
            for chunk in response.iter_bytes():
                chunks.append(chunk)
                size += len(chunk)
                if size >= MAX_BYTES:
                    break
            body = b"".join(chunks)[:MAX_BYTES].decode(response.encoding or "utf-8", "replace")
            outcome, reason = classify_response(response.status_code, body, settings.feeds.removed_markers)
            return RecrawlResult(url, outcome, response.status_code, reason)
    except httpx.HTTPError as exc:
        # A refused connection or an unresolvable name is not proof of removal (the site may be down).
        return RecrawlResult(url, "unknown", None, f"{type(exc).__name__}: {exc}"[:300])
    finally:
        if own:
            client.close()
