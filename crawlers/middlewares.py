"""Downloader middlewares: the cross-cutting concerns of crawling hostile sites, kept out of the
spiders.  In order of ``process_request``:
* :class:`SafetyMiddleware` (50): refuses private/loopback targets unless allowed, caps pages
  per host and distinct URLs per repeating URL shape (calendar traps), skips paused sites.
* :class:`TorProxyMiddleware` (100): routes requests through Tor's SOCKS5h proxy, one set of
  SOCKS credentials (= one Tor circuit) per market.
* :class:`BackoffRetryMiddleware` (550, replaces Scrapy's): retries 429/5xx and network errors
  with exponential back-off, honouring ``Retry-After``.
* :class:`SessionMiddleware` (650, before cookies): analyst-imported cookies, login and
  re-login on expiry, gate detection (solve an automatic form, or save the page and pause).
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
import warnings
from collections import Counter, defaultdict
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urljoin, urlsplit

from scrapy import Request, signals
from scrapy.downloadermiddlewares import cookies as scrapy_cookies
from scrapy.downloadermiddlewares.retry import get_retry_request
from scrapy.exceptions import DownloadTimeoutError, IgnoreRequest, ScrapyDeprecationWarning
from scrapy.http import FormRequest, Response, TextResponse
from tldextract import TLDExtract

from crawlers.addresses import AddressGuard, is_local_name, literal_address, refusal
from crawlers.metrics import gate_event
from crawlers.sessions import SessionStore
from dragnet.settings import get_settings

log = logging.getLogger(__name__)


def offline_public_suffixes() -> None:
    """Scrapy's cookie jar asks tldextract whether a cookie's domain is a public suffix; by
    default tldextract then downloads the list from publicsuffix.org (a clearnet DNS lookup and
    connection, outside Tor, the first time a cookie with a Domain arrives).  The bundled
    snapshot is enough to judge cookie domains: never fetch, never touch a disk cache."""
    if not isinstance(getattr(scrapy_cookies, "_split_domain", None), TLDExtract):
        raise RuntimeError("scrapy's cookies._split_domain moved: the offline public-suffix list is not wired")
    scrapy_cookies._split_domain = TLDExtract(
        suffix_list_urls=(), cache_dir=None, fallback_to_snapshot=True, include_psl_private_domains=True
    )


offline_public_suffixes()  # before any crawler builds its cookie middleware


def _profile(spider: Any, crawler: Any = None) -> Any:
    """The site profile of the running spider (Scrapy 2.13+ no longer passes ``spider``)."""
    if spider is None and crawler is not None:
        spider = crawler.spider
    return getattr(spider, "profile", None)


def is_private_host(host: str) -> bool:
    """A local name, or a literal address in any notation (``127.1``, ``0x7f000001``,
    ``[::ffff:127.0.0.1]``) that is not public.  Spelling only, no lookup: the crawl itself
    decides on what a host resolves to (:class:`crawlers.addresses.AddressGuard`)."""
    if is_local_name(host):
        return True
    address = literal_address(host)
    return address is not None and refusal(address) is not None


_DIGITS = re.compile(r"\d+")


def url_shape(url: str) -> str:
    """The URL with every number replaced: ``/calendar/2026-01-03`` -> ``/calendar/#-#-#``."""
    parts = urlsplit(url)
    query = "&".join(sorted(p.split("=", 1)[0] for p in parts.query.split("&") if p))
    return f"{parts.hostname}{_DIGITS.sub('#', parts.path)}?{query}"


class SafetyMiddleware:
    def __init__(self, crawler: Any) -> None:
        settings = get_settings().crawl
        self.crawler = crawler
        self.stats = crawler.stats
        self.guard = AddressGuard(settings.allow_private_targets, settings.allowed_private_hosts)
        self.proxied = bool(crawler.settings.get("DRAGNET_SOCKS_URL"))
        self.max_pages_per_host = settings.max_pages_per_host
        self.max_pattern_pages = settings.max_pattern_pages
        self.per_host: Counter[str] = Counter()
        self.per_shape: dict[str, set[str]] = defaultdict(set)
        self.sessions = SessionStore()

    @classmethod
    def from_crawler(cls, crawler: Any) -> SafetyMiddleware:
        return cls(crawler)

    async def _check_target(self, request: Request) -> None:
        """Refuse a target that is (or resolves to) a non-public address unless allowed; pin a
        direct connection to the address that was checked (``meta["dragnet_pin"]``).  Runs for
        every request, redirects included (a redirect is a new request through this chain)."""
        request.meta.pop("dragnet_pin", None)  # a redirect copies the meta of another host
        parts = urlsplit(request.url)
        host = (parts.hostname or "").lower()
        if self.proxied:
            verdict = self.guard.judge_literal(host)  # names are resolved by the proxy, never here
            if verdict is None:
                return
        else:
            port = parts.port or (443 if parts.scheme == "https" else 80)
            verdict = await self.guard.resolve(host, port)
        if verdict.reason is not None:
            self.stats.inc_value("dragnet/refused/private_target")
            log.warning(
                "refused private/loopback target %s: %s %s (allow it in crawl.allowed_private_hosts)",
                request.url,
                host,
                verdict.reason,
            )
            raise IgnoreRequest(f"private target refused: {host} {verdict.reason}")
        if not self.proxied or is_private_host(host):
            # Direct: always.  Through Tor: only an allowed private literal is reached directly.
            request.meta["dragnet_pin"] = (host, verdict.address)

    async def process_request(self, request: Request, spider: Any = None) -> None:
        await self._check_target(request)
        host = (urlsplit(request.url).hostname or "").lower()
        if request.meta.get("dragnet_auth"):
            return None
        profile = _profile(spider, self.crawler)
        if profile is not None and self.sessions.paused(profile.name):
            self.stats.inc_value("dragnet/skipped/paused")
            raise IgnoreRequest(f"site {profile.name} is paused (gate)")
        if request.meta.get("dragnet_counted"):
            return None  # a retry or re-login replay of a request already counted
        request.meta["dragnet_counted"] = True
        self.per_host[host] += 1
        if self.per_host[host] > self.max_pages_per_host:
            self.stats.inc_value("dragnet/trap/pages_per_host")
            if self.per_host[host] == self.max_pages_per_host + 1:
                log.warning("trap protection: %s reached max_pages_per_host=%d", host, self.max_pages_per_host)
            raise IgnoreRequest(f"max pages per host reached for {host}")
        shape = url_shape(request.url)
        seen = self.per_shape[shape]
        if request.url not in seen:
            if len(seen) >= self.max_pattern_pages:
                self.stats.inc_value("dragnet/trap/url_pattern")
                if len(seen) == self.max_pattern_pages:
                    seen.add("<reported>")
                    log.warning(
                        "trap protection: URL shape %s repeats more than %d times (calendar-like trap)",
                        shape,
                        self.max_pattern_pages,
                    )
                raise IgnoreRequest(f"repeating URL pattern {shape}")
            seen.add(request.url)
        return None


class TorProxyMiddleware:
    """Every request of a Tor-crawled site goes over SOCKS5h; credentials isolate markets."""

    def __init__(self, proxy_url: str | None, isolate: bool, crawler: Any = None) -> None:
        self.crawler = crawler
        self.proxy_url = proxy_url
        self.isolate = isolate

    @classmethod
    def from_crawler(cls, crawler: Any) -> TorProxyMiddleware:
        settings = get_settings()
        proxy = crawler.settings.get("DRAGNET_SOCKS_URL", settings.tor.socks_url)
        return cls(proxy or None, settings.tor.isolate_per_market, crawler)

    def process_request(self, request: Request, spider: Any = None) -> None:
        if not self.proxy_url or "socks_proxy" in request.meta:
            return None
        host = (urlsplit(request.url).hostname or "").lower()
        if request.meta.get("dragnet_pin"):
            return None  # an allowed private literal (tests, benchmarks), pinned and reached directly
        request.meta["socks_proxy"] = self.proxy_url
        profile = _profile(spider, self.crawler)
        if self.isolate:
            circuit = profile.name if profile is not None else host
            request.meta["socks_auth"] = (f"dragnet-{circuit}", "isolate")
        return None


RETRY_CODES = {408, 425, 429, 500, 502, 503, 504, 520, 521, 522, 524}


def retry_after_seconds(value: bytes | str | None) -> float | None:
    if not value:
        return None
    text = value.decode("latin-1") if isinstance(value, bytes) else value
    text = text.strip()
    if text.isdigit():
        return float(text)
    try:
        return max(0.0, parsedate_to_datetime(text).timestamp() - time.time())
    except (TypeError, ValueError):
        return None


class BackoffRetryMiddleware:
    def __init__(self, crawler: Any) -> None:
        settings = get_settings().crawl
        self.crawler = crawler
        self.max_retry = settings.retry_times
        self.base = settings.retry_backoff_s
        self.cap = settings.retry_backoff_max_s

    @classmethod
    def from_crawler(cls, crawler: Any) -> BackoffRetryMiddleware:
        return cls(crawler)

    def _delay(self, request: Request, retry_after: float | None) -> float:
        tries = request.meta.get("retry_times", 0)
        backoff = min(self.cap, self.base * (2**tries))
        if retry_after is not None:
            return min(self.cap, max(retry_after, backoff if retry_after == 0 else 0))
        return backoff

    async def process_response(self, request: Request, response: Response, spider: Any = None) -> Any:
        if request.meta.get("dont_retry") or response.status not in RETRY_CODES:
            return response
        if response.status in request.meta.get("handle_httpstatus_list", ()):
            return response
        retry_after = retry_after_seconds(response.headers.get(b"Retry-After"))
        new = get_retry_request(
            request, spider=self.crawler.spider, reason=f"http {response.status}", max_retry_times=self.max_retry
        )
        if new is None:
            return response
        delay = self._delay(request, retry_after)
        self.crawler.stats.inc_value(f"dragnet/retry/http_{response.status}")
        if retry_after is not None:
            self.crawler.stats.inc_value("dragnet/retry/retry_after_honoured")
        log.info(
            "retrying %s after %.2fs (HTTP %s%s)",
            request.url,
            delay,
            response.status,
            f", Retry-After {retry_after:.0f}s" if retry_after is not None else "",
        )
        await asyncio.sleep(delay)
        return new

    async def process_exception(self, request: Request, exception: BaseException, spider: Any = None) -> Any:
        if request.meta.get("dont_retry") or isinstance(exception, IgnoreRequest):
            return None
        name = type(exception).__name__
        if "Cancelled" in name or "MaxSize" in name:
            return None  # size caps cancel on purpose; fetching again would only repeat it
        # A slow-drip or dead onion service is retried briefly; other network errors get the full budget.
        if isinstance(exception, DownloadTimeoutError) or "Timeout" in name:
            limit = 1
        elif name == "SocksError":
            limit = min(2, self.max_retry)
        else:
            limit = self.max_retry
        new = get_retry_request(request, spider=self.crawler.spider, reason=name, max_retry_times=limit)
        if new is None:
            return None
        self.crawler.stats.inc_value(f"dragnet/retry/{name}")
        await asyncio.sleep(self._delay(request, None))
        return new


def _form_request(response: Response, **kwargs: Any) -> FormRequest:
    """``FormRequest.from_response`` (deprecated in Scrapy 2.19 in favour of the separate
    form2request package, which is not a dependency); its warning would repeat on every login."""

    if not isinstance(response, TextResponse):
        raise ValueError(f"{response.url} is not an HTML page: it has no form to submit")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", ScrapyDeprecationWarning)
        return FormRequest.from_response(response, **kwargs)


class SessionMiddleware:
    """Imported cookies, login / re-login and gates, for sites whose profile asks for them."""

    def __init__(self, crawler: Any) -> None:
        self.crawler = crawler
        self.store = SessionStore()
        self.settings = get_settings()
        self.applied: set[tuple[str, str]] = set()
        self.locks: dict[str, asyncio.Lock] = {}
        self.generation: Counter[str] = Counter()

    @classmethod
    def from_crawler(cls, crawler: Any) -> SessionMiddleware:
        mw = cls(crawler)
        crawler.signals.connect(mw.spider_opened, signal=signals.spider_opened)
        return mw

    def spider_opened(self, spider: Any) -> None:
        profile = _profile(spider)
        if profile is not None and (profile.login or profile.gate):
            self.locks[profile.name] = asyncio.Lock()

    def process_request(self, request: Request, spider: Any = None) -> None:
        profile = _profile(spider, self.crawler)
        if profile is None or (not profile.gate and not profile.login):
            return None
        host = urlsplit(request.url).hostname or ""
        if (profile.name, host) not in self.applied:
            cookies = self.store.cookies(profile.name)
            if cookies:
                # As a list with path "/": a dict would be scoped to the directory of this URL.
                existing: list[Any] = (
                    request.cookies
                    if isinstance(request.cookies, list)
                    else [{"name": k, "value": v} for k, v in (request.cookies or {}).items()]
                )
                request.cookies = [{"name": k, "value": v, "path": "/"} for k, v in cookies.items()] + existing
                self.crawler.stats.inc_value("dragnet/session/imported_cookies_used")
            self.applied.add((profile.name, host))
        request.meta.setdefault("session_generation", self.generation[profile.name])
        return None

    # -- detection -------------------------------------------------------------------------
    @staticmethod
    def _text(response: Response) -> str:
        try:
            return response.text[:200_000]
        except AttributeError:
            return ""

    def _is_gate(self, response: Response, profile: Any) -> bool:
        if profile.gate is None:
            return False
        text = self._text(response)
        return any(marker in text for marker in profile.gate.markers)

    def _is_logged_out(self, request: Request, response: Response, profile: Any) -> bool:
        if profile.login is None:
            return False
        login_path = urlsplit(urljoin(request.url, profile.login.url)).path
        if urlsplit(request.url).path == login_path:
            return False
        if 300 <= response.status < 400:
            location = (response.headers.get(b"Location") or b"").decode("latin-1")
            return urlsplit(urljoin(request.url, location)).path == login_path
        try:
            return bool(response.css(profile.login.form_css))
        except Exception:  # noqa: BLE001 - not HTML
            return False

    # -- actions -------------------------------------------------------------------------------
    async def _fetch(self, request: Request) -> Response:
        request.meta["dragnet_auth"] = True
        return await self.crawler.engine.download_async(request)

    async def _login(self, request: Request, profile: Any) -> bool:
        login_url = urljoin(request.url, profile.login.url)
        form_page = await self._fetch(Request(login_url, dont_filter=True))
        if self._is_gate(form_page, profile):
            return False
        submit = _form_request(
            form_page,
            formcss=profile.login.form_css,
            formdata=profile.login.fields,
            dont_filter=True,
            meta={"dont_redirect": True, "handle_httpstatus_list": [301, 302, 303, 307, 403]},
        )
        result = await self._fetch(submit)
        ok = result.status in (301, 302, 303, 307) and not self._is_logged_out(request, result, profile)
        self.crawler.stats.inc_value("dragnet/session/login_ok" if ok else "dragnet/session/login_failed")
        log.info("login to %s %s", profile.name, "succeeded" if ok else f"failed (HTTP {result.status})")
        return ok

    async def _solve_gate(self, response: Response, profile: Any) -> bool:
        try:
            submit = _form_request(
                response,
                formcss=profile.gate.form_css,
                dont_filter=True,
                meta={"dont_redirect": True, "handle_httpstatus_list": [302, 303]},
            )
        except ValueError:
            return False
        result = await self._fetch(submit)
        ok = result.status in (302, 303)
        self.crawler.stats.inc_value("dragnet/gate/solved" if ok else "dragnet/gate/unsolved")
        self.crawler.signals.send_catch_log(gate_event, site=profile.name, outcome="solved" if ok else "unsolved")
        log.info("anti-DDoS gate of %s %s", profile.name, "passed" if ok else "not passed")
        return ok

    def _pause(self, request: Request, response: Response, profile: Any) -> None:
        if self.store.paused(profile.name):
            return
        directory = self.settings.paths.evidence_dir / "gates"
        directory.mkdir(parents=True, exist_ok=True)
        page = directory / f"{profile.name}-{time.strftime('%Y%m%d-%H%M%S', time.gmtime())}.html"
        page.write_bytes(response.body[: self.settings.crawl.max_response_bytes])
        self.store.pause(profile.name, "gate", page=page, url=request.url)
        self.crawler.stats.set_value("dragnet/gate/paused", profile.name)
        self.crawler.signals.send_catch_log(gate_event, site=profile.name, outcome="paused")
        log.warning(
            "site %s is behind a gate that needs a human: page saved to %s, site paused; resume with "
            "'dragnet session import %s COOKIE'",
            profile.name,
            page,
            profile.name,
        )

    async def process_response(self, request: Request, response: Response, spider: Any = None) -> Any:
        profile = _profile(spider, self.crawler)
        if profile is None or request.meta.get("dragnet_auth") or (not profile.gate and not profile.login):
            return response
        lock = self.locks.setdefault(profile.name, asyncio.Lock())
        if self._is_gate(response, profile):
            self.crawler.stats.inc_value("dragnet/gate/seen")
            self.crawler.signals.send_catch_log(gate_event, site=profile.name, outcome="seen")
            if profile.gate.solve == "form" and request.meta.get("gate_attempts", 0) < 3:
                async with lock:
                    if request.meta.get("session_generation") == self.generation[profile.name]:
                        await self._solve_gate(response, profile)
                        self.generation[profile.name] += 1
                return self._replay(request, "gate_attempts", profile)
            if request.meta.get("dragnet_check"):
                return response  # 'dragnet profile check' shows the gate; it never pauses the site
            self._pause(request, response, profile)
            raise IgnoreRequest(f"{profile.name}: gate")
        if self._is_logged_out(request, response, profile):
            self.crawler.stats.inc_value("dragnet/session/logged_out")
            # Sessions expire under load (several requests in flight per session), so a request
            # may meet the login page more than once; only failed logins end it.
            if request.meta.get("login_failures", 0) >= 3 or request.meta.get("login_attempts", 0) >= 20:
                self.crawler.stats.inc_value("dragnet/session/gave_up")
                raise IgnoreRequest(f"{profile.name}: login keeps failing")
            async with lock:
                if request.meta.get("session_generation") == self.generation[profile.name]:
                    if await self._login(request, profile):
                        self.generation[profile.name] += 1
                    else:
                        request.meta["login_failures"] = request.meta.get("login_failures", 0) + 1
            return self._replay(request, "login_attempts", profile)
        return response

    def _replay(self, request: Request, counter: str, profile: Any) -> Request:
        meta = {k: v for k, v in request.meta.items() if k != "session_generation"}
        meta[counter] = meta.get(counter, 0) + 1
        return request.replace(dont_filter=True, meta=meta)
