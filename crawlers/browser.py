"""Chromium for rendered crawls: the OPSEC switches, the sandbox probe, and the Scrapy settings
that put scrapy-playwright's download handler (:mod:`crawlers.rendering`) under one spider.

Hostile pages run JavaScript in this browser, so it is locked to the proxy (:func:`hardened_args`):
WebRTC may not send UDP around the proxy (STUN would reveal the machine's addresses), no name is
resolved locally (DNS prefetch included), loopback is proxied too, and the sandbox is on where
the kernel allows it (:func:`sandbox_support`; as root, or without user namespaces or a setuid
helper, Chromium cannot sandbox and runs with ``--no-sandbox``, logged as a warning).

The proxy is set twice: on the browser context the spider's requests use (scrapy-playwright's
``PLAYWRIGHT_CONTEXTS``, the route each page really takes) and at launch, so that a context
created without one (a request naming another context) still cannot go direct.  Chromium cannot
send SOCKS credentials, so rendered crawls share one Tor circuit.

Nothing here imports Playwright: the runner reads these settings for every crawl.
"""

from __future__ import annotations

import functools
import os
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from dragnet.services.chromium import launch_options
from dragnet.settings import DragnetSettings

RENDERING_HANDLER = "crawlers.rendering.RenderingDownloadHandler"
CONTEXT = "dragnet"  # the one browser context rendered requests use

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


def chromium_proxy(socks_url: str | None) -> str | None:
    """The crawl's SOCKS proxy as Chromium takes it: ``socks5://host:port`` (Chromium resolves
    names on a SOCKS5 proxy anyway, and cannot send credentials), or None for a direct crawl."""
    if not socks_url:
        return None
    parts = urlsplit(socks_url)
    return f"socks5://{parts.hostname}:{parts.port}"


def context_kwargs(settings: DragnetSettings, proxy_server: str | None) -> dict[str, Any]:
    """Keyword arguments of the browser context rendered pages open in: the proxy (loopback
    proxied too: ``<-loopback>`` removes Chromium's implicit loopback bypass), the crawl's user
    agent, no service workers (a page's worker would fetch outside the page's routing)."""
    kwargs: dict[str, Any] = {
        "user_agent": settings.crawl.user_agent,
        "java_script_enabled": True,
        "service_workers": "block",
        "accept_downloads": False,
    }
    if proxy_server:
        kwargs["proxy"] = {"server": proxy_server, "bypass": "<-loopback>"}
    return kwargs


def rendering_settings(settings: DragnetSettings, socks_url: str | None) -> dict[str, Any]:
    """Scrapy settings of a rendered crawl: scrapy-playwright's handler (with the SOCKS handler
    under it for plain requests), Debian's Chromium with the hardened switches, the proxy on the
    context and at launch, the page timeout; ``DRAGNET_CHROMIUM_SANDBOX`` says whether the
    sandbox is on and why, for the spider to log."""
    browser = settings.browser
    proxy_server = chromium_proxy(socks_url)
    options = launch_options(proxy_server=proxy_server, headless=browser.headless, configured=browser.chromium_path)
    sandbox, why = sandbox_support(options["executable_path"])
    options["args"] = hardened_args(options["args"], proxy_server, sandbox)
    return {
        "DOWNLOAD_HANDLERS": {"http": RENDERING_HANDLER, "https": RENDERING_HANDLER},
        "PLAYWRIGHT_BROWSER_TYPE": "chromium",
        "PLAYWRIGHT_LAUNCH_OPTIONS": options,
        "PLAYWRIGHT_CONTEXTS": {CONTEXT: context_kwargs(settings, proxy_server)},
        "PLAYWRIGHT_DEFAULT_NAVIGATION_TIMEOUT": browser.page_timeout_s * 1000,
        # Never a clearnet browser service: only the local Chromium launched above.
        "PLAYWRIGHT_CDP_URL": None,
        "PLAYWRIGHT_CONNECT_URL": None,
        "DRAGNET_CHROMIUM_PROXY": proxy_server or "",
        "DRAGNET_CHROMIUM_SANDBOX": (sandbox, why),
    }
