"""The social spider: renders a JavaScript timeline in Chromium (Playwright), scrolls until nothing
new arrives (or the cap), and emits one Listing per post with a screenshot of the timeline.

Playwright runs on the asyncio reactor that Scrapy uses, inside the spider's ``start()``; no
request goes through Scrapy's downloader, because the timeline only exists inside the browser.
Chromium reaches ``.onion`` names through the same SOCKS5 proxy (Chromium resolves names on the
proxy for SOCKS5); Chromium cannot send SOCKS credentials, so rendered crawls share a circuit.

Hostile pages run JavaScript here, so the browser is locked to the proxy (:func:`hardened_args`):
WebRTC may not send UDP around the proxy (STUN would reveal the machine's addresses), no name is
resolved locally (DNS prefetch included), loopback is proxied too, and the sandbox is on where
the kernel allows it (:func:`sandbox_support`; as root, or without user namespaces or a setuid
helper, Chromium cannot sandbox and runs with ``--no-sandbox``, logged as a warning).
"""

from __future__ import annotations

import functools
import hashlib
import os
import stat
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlsplit

from crawlers.spiders.market import ProfileSpider
from dragnet.documents import Listing, Vendor
from dragnet.services.chromium import launch_options
from extract.contacts import extract_contacts
from extract.crypto import extract_crypto
from extract.pgp import extract_pgp_fingerprints
from extract.text import normalize_text

_COLLECT = """(rule) => Array.from(document.querySelectorAll(rule.container)).map(el => {
  const u = el.querySelector(rule.url), a = el.querySelector(rule.author), t = el.querySelector(rule.text);
  return {url: u ? u.getAttribute('href') : null, author: a ? a.textContent : null, text: t ? t.textContent : ''};
})"""


_CLONE_NEWUSER, _CLONE_NEWPID, _CLONE_NEWNET = 0x10000000, 0x20000000, 0x40000000
_PROBE = (
    "import ctypes, sys; "
    f"sys.exit(ctypes.CDLL(None, use_errno=True).unshare({_CLONE_NEWUSER | _CLONE_NEWPID | _CLONE_NEWNET}) != 0)"
)


@functools.cache
def sandbox_support(chromium: str | None = None) -> tuple[bool, str]:
    """Whether Chromium's sandbox can run here, and why (not).  Chromium refuses the sandbox to
    root; otherwise it needs unprivileged user + PID + network namespaces (probed in a child
    process) or a setuid ``chrome-sandbox`` helper next to the binary."""
    if os.geteuid() == 0:
        return False, "running as root (Chromium refuses to sandbox root; run the crawler as a user)"
    try:
        probe = subprocess.run([sys.executable, "-c", _PROBE], capture_output=True, timeout=10)
        if probe.returncode == 0:
            return True, "user namespaces"
    except (OSError, subprocess.TimeoutExpired):
        pass
    for helper in ([Path(chromium).resolve().parent / "chrome-sandbox"] if chromium else []) + [
        Path("/usr/lib/chromium/chrome-sandbox")
    ]:
        try:
            info = helper.stat()
        except OSError:
            continue
        if info.st_uid == 0 and info.st_mode & stat.S_ISUID:
            return True, f"setuid helper {helper}"
    return False, "no unprivileged user namespaces and no setuid chrome-sandbox helper"


def hardened_args(args: list[str], proxy_server: str | None, sandbox: bool) -> list[str]:
    """Chromium switches that keep a hostile page's traffic inside the proxy."""
    hardened = [a for a in args if a != "--no-sandbox"]
    if not sandbox:
        hardened.append("--no-sandbox")
    hardened += [
        # WebRTC: only proxied (TCP) connections; no STUN/UDP around a SOCKS proxy.
        "--force-webrtc-ip-handling-policy=disable_non_proxied_udp",
        "--webrtc-ip-handling-policy=disable_non_proxied_udp",
        "--enforce-webrtc-ip-permission-check",
        "--dns-prefetch-disable",
        "--disable-features=NetworkPrediction,LoadingPredictorUseLocalPredictions",
    ]
    if proxy_server:
        proxy_host = urlsplit(proxy_server).hostname or "127.0.0.1"
        hardened += [
            # No local name resolution at all (prefetch, preconnect, a page's own lookups): names
            # go to the proxy inside the SOCKS5 request; only the proxy's own name may resolve.
            f"--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE {proxy_host}",
            # Loopback too goes through the proxy (Chromium bypasses it for loopback by default).
            # These come after Playwright's own switches, and Chromium keeps the last of each.
            "--proxy-bypass-list=<-loopback>",
        ]
    return hardened


class SocialSpider(ProfileSpider):
    name = "social"
    kind = "social"

    def _chromium_proxy(self) -> str | None:
        proxy = self.crawler.settings.get("DRAGNET_SOCKS_URL") or ""
        if not proxy:
            return None
        parts = urlsplit(proxy)
        return f"socks5://{parts.hostname}:{parts.port}"

    async def start(self) -> AsyncIterator[Any]:
        # Playwright: loaded only where a page is rendered
        from playwright.async_api import async_playwright

        browser_settings = self.settings_obj.browser
        max_scrolls = self.profile.max_scrolls or browser_settings.max_scrolls
        rule = self.post_rule().model_dump()
        timeout_ms = browser_settings.page_timeout_s * 1000
        proxy_server = self._chromium_proxy()
        options = launch_options(
            proxy_server=proxy_server, headless=browser_settings.headless, configured=browser_settings.chromium_path
        )
        sandbox, why = sandbox_support(options["executable_path"])
        options["args"] = hardened_args(options["args"], proxy_server, sandbox)
        self.crawler.stats.set_value("dragnet/social/sandbox", "on" if sandbox else "off")
        if sandbox:
            self.logger.info("Chromium sandbox on (%s)", why)
        else:
            self.logger.warning("Chromium sandbox off: %s", why)
        async with async_playwright() as playwright:
            browser = await playwright.chromium.launch(**options)
            try:
                context = await browser.new_context(
                    user_agent=self.settings_obj.crawl.user_agent, java_script_enabled=True
                )
                page = await context.new_page()
                for url in self.profile.start_urls:
                    async for listing in self._crawl_timeline(page, url, rule, max_scrolls, timeout_ms):
                        yield listing
                await context.close()
            finally:
                await browser.close()

    async def _crawl_timeline(
        self, page: Any, url: str, rule: dict[str, Any], max_scrolls: int, timeout_ms: float
    ) -> AsyncIterator[Listing]:
        stats = self.crawler.stats
        response = await page.goto(url, timeout=timeout_ms, wait_until="load")
        stats.inc_value("response_received_count")
        count, stalls, scrolls = 0, 0, 0
        while scrolls < max_scrolls:
            try:
                await page.wait_for_function(
                    "([sel, n]) => document.querySelectorAll(sel).length > n || document.body.dataset.end === '1'",
                    arg=[rule["container"], count],
                    timeout=3000,
                )
            except Exception:  # noqa: BLE001 - Playwright's TimeoutError: nothing new this round
                stalls += 1
            now = await page.evaluate("(sel) => document.querySelectorAll(sel).length", rule["container"])
            ended = await page.evaluate("() => document.body.dataset.end === '1'")
            if now > count:
                stalls = 0
                stats.inc_value("dragnet/social/batches")
            count = now
            if (ended and now == count) or stalls >= 2:
                break
            await page.evaluate("() => window.scrollTo(0, document.body.scrollHeight)")
            scrolls += 1
        stats.set_value("dragnet/social/scrolls", scrolls)
        posts = await page.evaluate(_COLLECT, rule)
        shot = await page.screenshot(full_page=True, type="png")
        shot_sha = hashlib.sha256(shot).hexdigest()
        shots = self.settings_obj.paths.evidence_dir / "screenshots"
        shots.mkdir(parents=True, exist_ok=True)
        (shots / f"{shot_sha}.png").write_bytes(shot)
        html = (await page.content()).encode("utf-8")
        snapshot = self.warc.write_response(
            page.url,
            response.status if response else 200,
            [("Content-Type", "text/html; charset=utf-8")],
            html,
            # the browser was launched with this proxy (or none); Chromium sends no SOCKS credentials
            proxy=self._chromium_proxy() or "direct",
            circuit_isolation=False if self._chromium_proxy() else None,
        )
        seen: set[str] = set()
        for post in posts:
            text = normalize_text(post.get("text") or "")
            if not post.get("url") or not text:
                continue
            post_url = self.canonical(urljoin(page.url, post["url"]))
            if post_url in seen:
                continue
            seen.add(post_url)
            author = normalize_text(post.get("author") or "").lstrip("@") or None
            stats.inc_value("dragnet/listings")
            yield Listing.new(
                post_url,
                source_kind="social",
                title="",
                text=text,
                platform=self.profile.name,
                mirror=urlsplit(page.url).hostname,
                vendor=Vendor(name=author, market=self.profile.name) if author else None,
                contacts=extract_contacts(text),
                crypto=extract_crypto(text),
                pgp_fingerprints=extract_pgp_fingerprints(text),
                snapshot=snapshot,
                screenshot_sha256=shot_sha,
            )
