"""Market health probes over Tor: up, down (with its kind), gate, login wall, seizure banner.

One probe GETs the market's start page through Tor's SOCKS5h proxy (one circuit per market: the
market id is the SOCKS user name), classifies what came back, and hands the result to the
:class:`~lifespan.state.StateMachine`.  A market that was fine at its last probe and fails
now is re-probed at once at another path before the failure counts (FreshOnions: a single lost
circuit is not an outage); when its primary address fails, its verified mirrors are tried.

The workers' Celery tasks call :func:`probe_market` and, on beat, :func:`probe_due_markets`.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import urljoin, urlsplit

from dragnet.settings import DragnetSettings, get_settings
from lifespan.content import analyse_html, image_hashes, match_known_images, simhash, structureless_ahash
from lifespan.fetch import FetchError, FetchResponse, ProxyUnavailable, http_get
from lifespan.models import DownKind, Market, MarketState, ProbeResult, ProbeStatus
from lifespan.registry import seed_from_profiles
from lifespan.state import StateMachine
from lifespan.store import LifespanStore

log = logging.getLogger(__name__)

MAX_IMAGES = 4
MAX_IMAGE_BYTES = 1024 * 1024
MAX_MIRROR_ATTEMPTS = 3


def _alternate_path(path: str) -> str:
    """Another path on the same site for the immediate re-probe (not a cached error page)."""
    if path not in ("", "/"):
        return "/"
    return "/index.html"


class Prober:
    """Probes markets of one store through one proxy.  ``clock`` is injectable so that tests and
    replays can drive the schedule and outage durations without waiting days."""

    def __init__(
        self,
        store: LifespanStore | None = None,
        settings: DragnetSettings | None = None,
        proxy_url: str | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.settings = settings or get_settings()
        self.store = store or LifespanStore(settings=self.settings)
        self.proxy_url = proxy_url or self.settings.tor.socks_url
        self.clock = clock
        self.machine = StateMachine(self.store, self.settings.lifespan)

    # -- one request -----------------------------------------------------------------------------
    def _credentials(self, market_id: str) -> tuple[str, str] | None:
        return ("dragnet-probe", market_id) if self.settings.tor.isolate_per_market else None

    def fetch(self, url: str, market_id: str, max_bytes: int | None = None) -> FetchResponse:
        """GET through Tor on the market's own circuit, with the probe's timeout and size cap."""
        ls = self.settings.lifespan
        return http_get(
            url,
            proxy_url=self.proxy_url,
            timeout=ls.probe_timeout_s,
            max_bytes=max_bytes or ls.probe_max_bytes,
            user_agent=self.settings.crawl.user_agent,
            credentials=self._credentials(market_id),
        )

    def _images(self, page_url: str, sources: list[str], market_id: str) -> list[dict[str, Any]]:
        """Hashes of the page's first images (same host or inline data: URIs only)."""
        out: list[dict[str, Any]] = []
        host = urlsplit(page_url).hostname
        for src in sources[:MAX_IMAGES]:
            try:
                if src.startswith("data:image/") and ";base64," in src[:100]:
                    data = base64.b64decode(src.split(",", 1)[1][: MAX_IMAGE_BYTES * 4 // 3 + 4], validate=False)
                    out.append({"src": "data:", **image_hashes(data)})
                    continue
                url = urljoin(page_url, src)
                if urlsplit(url).hostname != host or urlsplit(url).scheme != "http":
                    continue
                resp = self.fetch(url, market_id, max_bytes=MAX_IMAGE_BYTES)
                if resp.status == 200 and resp.body:
                    out.append({"src": url[:300], **image_hashes(resp.body)})
            except (FetchError, ValueError, binascii.Error) as exc:
                log.debug("image %s not fetched: %s", src[:80], exc)
        return out

    def known_seizure_images(self) -> list[str]:
        """Banner hashes from settings plus those learned from earlier seizures recognised by text
        (and not rejected by an analyst)."""
        known = list(self.settings.lifespan.seizure_image_hashes)
        rejected = self.store.rejected_change_ids()
        for change in self.store.state_changes():
            # learn only from seizures the banner text proved, never from an image-only (suspected)
            # verdict or one an analyst rejected, and never a near-uniform image
            if change.to_state == MarketState.SEIZED and not change.suspected and change.id not in rejected:
                for img in change.evidence.get("images", []):
                    if img.get("low_information") or structureless_ahash(img.get("ahash")):
                        continue
                    if img.get("sha256"):
                        known.append(img["sha256"])
                    if img.get("ahash"):
                        known.append(f"ahash:{img['ahash']}")
        return list(dict.fromkeys(known))

    def classify(self, market: Market, url: str, at: float) -> ProbeResult:
        """Fetch ``url`` and say what it is; never raises for network trouble."""
        host = urlsplit(url).hostname or ""
        base: dict[str, Any] = {"market_id": market.market_id, "url": url, "host": host, "at": at}
        started = time.monotonic()
        try:
            resp = self.fetch(url, market.market_id)
        except FetchError as exc:
            return ProbeResult(
                **base,
                status=ProbeStatus.DOWN,
                down_kind=exc.kind,
                error=str(exc)[:500],
                latency_ms=(time.monotonic() - started) * 1000,
                evidence={"socks_reply": exc.socks_reply} if exc.socks_reply is not None else {},
            )
        latency_ms = resp.elapsed_s * 1000
        html = resp.text()
        page = analyse_html(html, extra_gate=market.markers.get("gate"), extra_login=market.markers.get("login"))
        evidence: dict[str, Any] = {}
        sha = hashlib.sha256(resp.body).hexdigest()
        known = self.known_seizure_images()
        images: list[dict[str, Any]] = []
        if page.seized_by_text or (known and page.images) or page.seizure_phrases:
            images = self._images(url, page.images, market.market_id)
        image_matches = match_known_images(images, known) if known else []
        common: dict[str, Any] = dict(
            http_status=resp.status,
            latency_ms=latency_ms,
            title=page.title or None,
            content_sha256=sha,
            simhash=simhash(page.text) if page.text else None,
        )
        # An image match alone decides nothing: it counts only on a banner-like page (little text,
        # few links), and without banner words or an agency it is a *suspected* seizure that an
        # analyst confirms and that a later ordinary answer undoes.
        image_seizure = bool(image_matches) and page.banner_like
        if page.seized_by_text or image_seizure:
            evidence.update(
                seizure_phrases=page.seizure_phrases,
                seizure_agencies=page.seizure_agencies,
                images=images,
                image_matches=image_matches,
                corroborated=page.seized_by_text or bool(page.seizure_phrases or page.seizure_agencies),
            )
            return ProbeResult(**base, status=ProbeStatus.SEIZED, evidence=evidence, **common)
        if page.withdrawals_disabled:
            evidence["withdrawals_disabled"] = page.withdrawals_disabled
        if page.gate_markers:
            evidence["gate_markers"] = page.gate_markers
            return ProbeResult(**base, status=ProbeStatus.GATE, evidence=evidence, **common)
        if resp.status == 429:  # rate limited: alive and defending itself, like a gate
            evidence["gate_markers"] = ["HTTP 429 Too Many Requests"]
            return ProbeResult(**base, status=ProbeStatus.GATE, evidence=evidence, **common)
        if resp.status >= 400:
            if resp.status == 401:
                return ProbeResult(**base, status=ProbeStatus.LOGIN, evidence=evidence, **common)
            return ProbeResult(
                **base,
                status=ProbeStatus.DOWN,
                down_kind=DownKind.HTTP_ERROR,
                error=f"HTTP {resp.status}",
                evidence=evidence,
                **common,
            )
        if page.login_wall:
            return ProbeResult(**base, status=ProbeStatus.LOGIN, evidence=evidence, **common)
        return ProbeResult(**base, status=ProbeStatus.UP, evidence=evidence, **common)

    # -- one market ------------------------------------------------------------------------------
    def probe(self, market_id: str) -> ProbeResult:
        """Probe one market, record the result and apply the state machine.

        Raises :class:`~lifespan.fetch.ProxyUnavailable` (a ``ConnectionError``) without
        recording anything when Tor itself is unreachable."""
        market = self.store.get_market(market_id)
        if market is None:
            raise KeyError(f"unknown market {market_id!r}")
        if not market.primary_host:
            raise ValueError(f"market {market_id!r} has no address to probe")
        at = self.clock()
        path = market.start_path or "/"
        primary = f"http://{market.primary_host}{path}"
        attempts: list[ProbeResult] = [self.classify(market, primary, at)]
        result = attempts[0]
        newly_failing = market.consecutive_failures == 0
        if result.status == ProbeStatus.DOWN and newly_failing:
            retry = self.classify(market, f"http://{market.primary_host}{_alternate_path(path)}", at)
            attempts.append(retry)
            if retry.status != ProbeStatus.DOWN:
                result = retry
        if result.status == ProbeStatus.DOWN:
            mirrors = [
                m
                for m in self.store.mirrors(market_id)
                if m.host != market.primary_host and not m.phishing and (m.verified or m.source == "profile")
            ]
            for mirror in mirrors[:MAX_MIRROR_ATTEMPTS]:
                attempt = self.classify(market, f"http://{mirror.host}{path}", at)
                attempts.append(attempt)
                if attempt.status != ProbeStatus.DOWN:
                    result = attempt
                    break
        final = result.model_copy(
            update={
                "reprobed": len(attempts) > 1 and newly_failing and attempts[0].status == ProbeStatus.DOWN,
                "attempts": [
                    {
                        "url": a.url,
                        "status": a.status.value,
                        "down_kind": a.down_kind.value if a.down_kind else None,
                        "http_status": a.http_status,
                        "error": a.error,
                    }
                    for a in attempts
                ],
            }
        )
        if final.reachable:
            self.store.add_mirror(market_id, final.host, "probe", at=at)
        changes = self.machine.apply(market, final)
        final = final.model_copy(update={"state": market.state, "next_probe_at": market.next_probe_at})
        self.store.add_probe(final)
        for change in changes:
            log.info(
                "market %s: %s -> %s (%s)", market_id, change.from_state.value, change.to_state.value, change.reason
            )
        return final

    def probe_due(self, seed_profiles: bool = True) -> int:
        """Probe every market whose next probe is due; returns how many were probed."""
        if seed_profiles:
            try:
                seed_from_profiles(self.store, settings=self.settings)
            except Exception:
                log.exception("seeding markets from site profiles failed")
        due = [m.market_id for m in self.store.due_markets(self.clock())]
        if not due:
            return 0

        proxy_down = threading.Event()

        def one(market_id: str) -> bool:
            if proxy_down.is_set():
                return False
            try:
                self.probe(market_id)
                return True
            except ProxyUnavailable as exc:
                if not proxy_down.is_set():
                    log.error("probe round stopped: %s", exc)
                proxy_down.set()
                return False
            except Exception:
                log.exception("probe of %s failed", market_id)
                return False

        # Probes wait on Tor most of the time; a few in parallel keep a round short when many
        # markets time out.  Each market is probed by one thread only, so its state stays serial.
        workers = min(self.settings.lifespan.probe_concurrency, len(due))
        if workers <= 1:
            return sum(one(m) for m in due)

        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="probe") as pool:
            return sum(pool.map(one, due))


def probe_market(market_id: str) -> ProbeResult:
    """Probe one market with the process settings (the workers' ``probe_market`` task)."""
    store = LifespanStore()
    try:
        return Prober(store).probe(market_id)
    finally:
        store.close()


def probe_due_markets() -> int:
    """Probe all due markets with the process settings (the workers' beat entry)."""
    store = LifespanStore()
    try:
        return Prober(store).probe_due()
    finally:
        store.close()
