"""The market spider (one for every market: the site profile says where things are) and the
forum spider.  Both read fields through the profile's selectors, keep the raw response as a
WARC record and emit :class:`dragnet.documents.Listing` items."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlsplit, urlunsplit

import scrapy
from scrapy.exceptions import IgnoreRequest
from scrapy.http import Response, TextResponse

from crawlers.fields import profile_rates, read_detail, read_field, read_strings, select_all
from crawlers.profiles import FieldRule, ListingRule, PostRule, SiteProfile, canonical_host, find_profile
from crawlers.sessions import SessionStore
from crawlers.vendors import dump_record, load_record, template_url, vendor_from_record, vendor_record
from crawlers.warc import WarcStore
from dragnet.broker import restart_tolerant_redis
from dragnet.documents import Listing, SourceKind, Vendor
from dragnet.settings import get_settings
from extract.contacts import extract_contacts
from extract.crypto import extract_crypto
from extract.pgp import extract_pgp_fingerprints
from extract.rates import Rate, usd_rates
from extract.text import normalize_text

_SKIP_HEADERS = {b"content-encoding", b"transfer-encoding", b"content-length", b"set-cookie"}


def raw_values(selector: Any, rule: FieldRule) -> list[str]:
    """What a rule's selector matches, as the page has it (no joining, no white-space folding:
    an armoured key block needs its line breaks)."""
    return read_strings(selector, rule)


def index_links(response: Any, profile: SiteProfile) -> list[tuple[str, str | None]]:
    """(detail link, vendor page URL or ``None``) for every link an index page offers.  With
    ``listing.rows`` both are read inside each row, so a row's vendor goes with its own link."""
    rule = profile.listing
    if rule is None:
        return []
    if rule.rows is None:
        return [(href, None) for href in response.css(rule.links).getall()]
    vendor_rule = profile.vendor_page.index_url if profile.vendor_page is not None else None
    found: list[tuple[str, str | None]] = []
    for row in response.css(rule.rows):
        vendor_href = read_field(row, vendor_rule) if vendor_rule is not None else None
        vendor_url = urljoin(response.url, vendor_href) if isinstance(vendor_href, str) and vendor_href else None
        found += [(href, vendor_url) for href in row.css(rule.links).getall()]
    return found


def vendor_page_url(response: Any, profile: SiteProfile, vendor: Any) -> str | None:
    """Where this detail page's vendor page is, by the profile's one source: a link on the page
    (``url``), the link its index row carried (``index_url``, in the request's meta) or the
    ``template`` filled with the vendor's name."""
    rule = profile.vendor_page
    if rule is None:
        return None
    if rule.url is not None:
        href = read_field(response, rule.url)
        return urljoin(response.url, href) if isinstance(href, str) and href else None
    if rule.index_url is not None:
        request = getattr(response, "request", None)
        url = request.meta.get("dragnet_vendor_url") if request is not None else None
        return str(url) if url else None
    if rule.template is not None and isinstance(vendor, str) and vendor:
        return template_url(rule.template, vendor, response.url)
    return None


def read_vendor_page(page: Any, profile: SiteProfile) -> dict[str, Any]:
    """The vendor record of a fetched vendor page (see :mod:`crawlers.vendors`)."""
    rule = profile.vendor_page
    if rule is None:
        return {}
    values = {name: read_field(page, field) for name, field in rule.fields.items() if name != "pgp"}
    pgp_raw = raw_values(page, rule.fields["pgp"]) if "pgp" in rule.fields else []
    attributes = {name: read_field(page, field) for name, field in rule.attributes.items()}
    return vendor_record(page.url, values, pgp_raw, attributes)


class ProfileSpider(scrapy.Spider):
    """Common ground of the profile-driven spiders: profile loading, WARC, listing building."""

    kind = "market"

    def __init__(
        self, profile: SiteProfile | str | None = None, profiles_dir: str | None = None, **kwargs: Any
    ) -> None:
        if profile is None:
            raise ValueError(f"the {self.kind} spider needs a site profile (-a profile=NAME)")
        if isinstance(profile, str):
            profile = find_profile(profile, Path(profiles_dir) if profiles_dir else None)
        if profile.kind != self.kind:
            raise ValueError(f"profile {profile.name} is a {profile.kind} profile, not a {self.kind} profile")
        super().__init__(name=profile.name, **kwargs)
        self.profile = profile
        self.settings_obj = get_settings()
        self.site_rates = profile_rates(profile)  # the profile's own, over the dated table
        self.primary = urlsplit(profile.start_urls[0]).netloc
        self._warc: WarcStore | None = None
        self._mirror_index = 0
        # Offsite policy: links are followed only to the site's own onion names (start URLs,
        # mirrors) and the hosts its profile names in ``follow_hosts``.  Scrapy's offsite
        # middleware holds redirects to the same list (``offsite/filtered``).
        self.own_hosts = {canonical_host(h) for h in profile.hosts + profile.follow_hosts if h}
        self.allowed_domains = sorted(self.own_hosts)
        self.offsite_refused: dict[str, int] = {}

    def listing_rule(self) -> ListingRule:
        """The profile's index rule (a market profile cannot validate without one).  A method, not
        a property: Scrapy and scrapy-redis read a spider's attributes by introspection."""
        if self.profile.listing is None:
            raise ValueError(f"profile {self.profile.name} has no 'listing' rule")
        return self.profile.listing

    def post_rule(self) -> PostRule:
        """The profile's post rule (a forum or social profile cannot validate without one)."""
        if self.profile.posts is None:
            raise ValueError(f"profile {self.profile.name} has no 'posts' rule")
        return self.profile.posts

    @property
    def warc(self) -> WarcStore:
        if self._warc is None:
            self._warc = WarcStore(self.settings_obj.paths.warc_dir, self.profile.name)
        return self._warc

    def on_site(self, url: str) -> bool:
        """Whether ``url`` may be followed; an offsite link is counted (``dragnet/offsite/refused``)."""
        host = canonical_host(url)
        if host in self.own_hosts:
            return True
        if host not in self.offsite_refused:
            self.logger.info("offsite link to %s not followed (%s)", host or "?", url[:200])
        self.offsite_refused[host] = self.offsite_refused.get(host, 0) + 1
        self.crawler.stats.inc_value("dragnet/offsite/refused")
        return False

    def follow(self, response: Response, href: str) -> Any:
        """``response.follow`` for an on-site link; ``None`` for an offsite one."""
        url = response.urljoin(href)
        if not self.on_site(url):
            return None
        return response.follow(url, callback=self.parse, errback=self.page_failed)

    def closed(self, reason: str) -> None:
        failures: dict[str, str] = getattr(self, "vendor_failures", {})
        if failures:
            kinds: dict[str, int] = {}
            for why in failures.values():
                kinds[why] = kinds.get(why, 0) + 1
            self.logger.warning(
                "%s: %d vendor pages failed (%s), e.g. %s; their listings are kept without the vendor page",
                self.profile.name,
                len(failures),
                ", ".join(f"{why} x{n}" for why, n in sorted(kinds.items(), key=lambda kv: -kv[1])),
                next(iter(failures))[:200],
            )
        if self.offsite_refused:
            hosts = sorted(self.offsite_refused, key=lambda h: -self.offsite_refused[h])
            self.crawler.stats.set_value("dragnet/offsite/hosts", len(hosts))
            self.logger.warning(
                "%s: refused %d offsite links to %d hosts (%s); allow a host with the profile's follow_hosts",
                self.profile.name,
                sum(self.offsite_refused.values()),
                len(hosts),
                ", ".join(hosts[:5]) + (", ..." if len(hosts) > 5 else ""),
            )
        if self._warc is not None:
            self._warc.close()

    def snapshot(self, response: Response) -> Any:
        headers = [
            (k.decode("latin-1"), b", ".join(v).decode("latin-1"))
            for k, v in response.headers.items()
            if k.lower() not in _SKIP_HEADERS
        ]
        meta = response.request.meta if response.request is not None else {}
        proxy = meta.get("socks_proxy")
        return self.warc.write_response(
            response.url,
            response.status,
            headers,
            response.body,
            proxy=str(proxy) if proxy else "direct",
            circuit_isolation="socks_auth" in meta if proxy else None,
            rendered_by="chromium (playwright)" if "playwright" in response.flags else None,
        )

    def post_listing(
        self, url: str, source_kind: SourceKind, text: str, author: str | None, page_url: str, **extra: Any
    ) -> Listing:
        """A forum or timeline post as a listing: the one shape every spider that reads posts
        gives them (no title; the author as vendor; entities from the text)."""
        return Listing.new(
            url,
            source_kind=source_kind,
            title="",
            text=text,
            platform=self.profile.name,
            mirror=urlsplit(page_url).hostname,
            vendor=Vendor(name=author, market=self.profile.name) if author else None,
            contacts=extract_contacts(text),
            crypto=extract_crypto(text),
            pgp_fingerprints=extract_pgp_fingerprints(text),
            **extra,
        )

    def canonical(self, url: str) -> str:
        """The URL on the primary onion name: a listing seen through a mirror is the same listing."""
        parts = urlsplit(url)
        return urlunsplit((parts.scheme, self.primary, parts.path, parts.query, ""))

    async def start(self) -> AsyncIterator[Any]:
        paused = SessionStore().paused(self.profile.name)
        if paused:
            self.logger.warning(
                "site %s is paused since a gate (%s); saved page %s. Resume with 'dragnet session import %s COOKIE'",
                self.profile.name,
                paused.get("url"),
                paused.get("page"),
                self.profile.name,
            )
            self.crawler.stats.set_value("dragnet/gate/paused", self.profile.name)
            return
        for url in self.profile.start_urls:
            yield self.start_request(url, dont_filter=False, meta={"start_url": True})

    def start_request(self, url: str, *, dont_filter: bool, meta: dict[str, Any] | None = None) -> scrapy.Request:
        """A start page (or a mirror's): a spider that renders pages says how here."""
        return scrapy.Request(url, callback=self.parse, errback=self.start_failed, dont_filter=dont_filter, meta=meta)

    def start_failed(self, failure: Any) -> Any:
        """The primary name is unreachable: try the next mirror (same paths, other onion name)."""

        request = failure.request
        if failure.check(IgnoreRequest):  # paused, refused or capped: another mirror would not help
            self.logger.info("start page %s not crawled: %s", request.url, failure.getErrorMessage())
            return
        self.crawler.stats.inc_value("dragnet/mirror/start_failed")
        self.crawler.stats.set_value(
            "dragnet/start/error", f"{failure.type.__name__}: {failure.getErrorMessage()}"[:300]
        )
        if self._mirror_index < len(self.profile.mirrors):
            mirror = self.profile.mirrors[self._mirror_index]
            self._mirror_index += 1
            self.logger.warning(
                "%s unreachable (%s); switching to mirror %s", request.url, failure.getErrorMessage(), mirror
            )
            self.crawler.stats.inc_value("dragnet/mirror/switched")
            yield self.start_request(mirror, dont_filter=True)
        else:
            self.logger.error("%s: no mirror left to try", self.profile.name)

    def page_failed(self, failure: Any) -> None:
        self.crawler.stats.inc_value(f"dragnet/failed/{failure.type.__name__}")
        self.logger.info("page failed: %s (%s)", failure.request.url, failure.getErrorMessage()[:200])


class MarketSpider(ProfileSpider):
    """Index pages -> detail pages -> one Listing each; the vendor's key, rating, sales and contacts
    from its vendor page (:mod:`crawlers.vendors`)."""

    name = "market"
    kind = "market"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.detail_re = re.compile(self.listing_rule().detail_url)
        # vendor page path -> its record (None: the page failed); one fetch per page per crawl
        self.vendor_records: dict[str, dict[str, Any] | None] = {}
        self.vendor_locks: dict[str, asyncio.Lock] = {}
        self.vendor_failures: dict[str, str] = {}  # vendor page URL -> why it failed

    async def parse(self, response: Response, **kwargs: Any) -> AsyncIterator[Any]:
        if not hasattr(response, "css"):
            self.crawler.stats.inc_value("dragnet/skipped/not_html")
            return
        if self.detail_re.search(urlsplit(response.url).path):
            item = await self.parse_detail(response)
            if item is not None:
                yield item
            return
        rule = self.listing_rule()
        links = index_links(response, self.profile)
        links += [(href, None) for href in (response.css(rule.next).getall()[:1] if rule.next else [])]
        for href, vendor_url in links:
            request = self.follow(response, href)
            if request is not None:
                if vendor_url:
                    request.meta["dragnet_vendor_url"] = vendor_url
                yield request

    async def vendor_of(self, response: Response, name: Any) -> Vendor | None:
        """The listing's vendor: ``name`` from the listing and, when the profile reads vendor
        pages, that page's record (key, rating, sales, contacts, URL)."""
        url = vendor_page_url(response, self.profile, name)
        record = await self.vendor_page(url) if url and self.on_site(url) else None
        return vendor_from_record(name if isinstance(name, str) else None, self.profile.name, record)

    async def vendor_page(self, url: str) -> dict[str, Any] | None:
        """The record of one vendor page, fetched once per crawl (per fleet with a shared
        frontier: the whole record is shared through Redis).  A page answering 4xx/5xx, or not
        HTML, is counted as failed and gives ``None``; the listing is kept."""
        path = urlsplit(url).path
        if path in self.vendor_records:
            return self.vendor_records[path]
        async with self.vendor_locks.setdefault(path, asyncio.Lock()):
            if path in self.vendor_records:
                return self.vendor_records[path]
            shared = self._shared_vendors()
            key = f"{self.name}:vendor_page:{path}"
            cached = shared.get(key) if shared is not None else None
            record = load_record(cached) if cached is not None else None
            if record is None:
                record = await self._fetch_vendor_page(url)
                if shared is not None and record is not None:
                    # kept as long as the dupefilter keeps a page: a re-crawl reads the page afresh
                    ttl = max(1, int(self.crawler.settings.getfloat("DRAGNET_RECRAWL_AFTER_S", 24 * 3600)))
                    shared.set(key, dump_record(record), ex=ttl)
            self.vendor_records[path] = record
        return record

    async def _fetch_vendor_page(self, url: str) -> dict[str, Any] | None:
        try:
            page = await self.crawler.engine.download_async(scrapy.Request(url, dont_filter=True))
        except Exception as exc:  # noqa: BLE001 - a missing vendor page must not lose the listing
            self._vendor_failed(url, type(exc).__name__)
            return None
        if page.status >= 400:
            self._vendor_failed(url, f"HTTP {page.status}")
            return None
        if not isinstance(page, TextResponse):  # a plain Response has .css, which raises
            self._vendor_failed(url, "not HTML")
            return None
        self.crawler.stats.inc_value("dragnet/vendor_pages")
        return read_vendor_page(page, self.profile)

    def _vendor_failed(self, url: str, why: str) -> None:
        self.crawler.stats.inc_value("dragnet/vendor_pages/failed")
        self.vendor_failures[url] = why

    def _shared_vendors(self) -> Any:
        """With a shared frontier, vendor-page records are shared too (one fetch per fleet)."""
        url = self.crawler.settings.get("DRAGNET_FRONTIER_REDIS")
        if not url:
            return None
        if getattr(self, "_redis", None) is None:
            self._redis = restart_tolerant_redis(url)
        return self._redis

    def rates(self) -> dict[str, Rate]:
        """The USD rates of today (the crawl date, UTC): the dated table, the profile's own on top."""
        return usd_rates(overrides=self.site_rates)

    async def parse_detail(self, response: Response) -> Listing | None:
        detail = read_detail(response, self.profile, self.rates())
        if not detail.title:
            self.crawler.stats.inc_value("dragnet/skipped/no_title")
            return None
        stats = self.crawler.stats
        declared = [*self.profile.fields, *(["offers"] if self.profile.offers is not None else [])]
        for name in detail.empty_fields(declared):
            stats.inc_value(f"dragnet/empty/{name}")  # a selector that fits few pages: see runner.incomplete_reason
        if detail.price is None:
            stats.inc_value("dragnet/empty/listing_price")
        vendor = await self.vendor_of(response, detail.vendor)
        fingerprint = vendor.pgp_fingerprint if vendor is not None else None
        body = f"{detail.title}\n{detail.text}"
        fingerprints = extract_pgp_fingerprints(detail.text)
        if fingerprint and fingerprint not in fingerprints:
            fingerprints.insert(0, fingerprint)
        listing = Listing.new(
            self.canonical(response.url),
            source_kind="market",
            title=detail.title,
            text=detail.text,
            market=self.profile.name,
            platform=self.profile.name,
            mirror=urlsplit(response.url).hostname,
            vendor=vendor,
            contacts=extract_contacts(body),
            crypto=extract_crypto(body),
            pgp_fingerprints=fingerprints,
            snapshot=self.snapshot(response),
            **detail.listing_fields(),
        )
        listing.url = response.url
        self.crawler.stats.inc_value("dragnet/listings")
        return listing


class ForumSpider(ProfileSpider):
    """Boards -> threads (all pages) -> one Listing per post, keyed by the post's permalink."""

    name = "forum"
    kind = "forum"

    async def parse(self, response: Response, **kwargs: Any) -> AsyncIterator[Any]:
        if not hasattr(response, "css"):
            return
        rule = self.post_rule()
        posts = response.css(rule.container)
        snapshot = self.snapshot(response) if posts else None
        for post in posts:
            href = post.css(rule.url).get()
            text = normalize_text(" ".join(select_all(post, rule.text)))
            if not href or not text:
                continue
            author = normalize_text(post.css(rule.author).get() or "") or None
            listing = self.post_listing(
                self.canonical(urljoin(response.url, href)), "forum", text, author, response.url, snapshot=snapshot
            )
            self.crawler.stats.inc_value("dragnet/listings")
            yield listing
        for selector in self.profile.follow:
            for href in response.css(selector).getall():
                request = self.follow(response, href)
                if request is not None:
                    yield request
