"""``dragnet profile check``: what a crawl would make of one page, before a crawl is run.

:func:`inspect_page` takes a page (fetched, or a saved HTML file) and says what kind of page the
profile takes it for (gate, index, detail, vendor or unknown), what each selector reads there,
and which links a crawl would follow or refuse as offsite.  It uses the spider's own readers
(:func:`crawlers.spiders.market.read_field`, :func:`index_links`, :func:`vendor_page_url`), so
the check and the crawl cannot disagree.  :func:`fetch_page` fetches the page with the
crawler's own Scrapy settings: the same SOCKS proxy, address guard, login and gate handling;
nothing connects around the proxy.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urljoin, urlsplit

import scrapy
from scrapy.crawler import CrawlerProcess
from scrapy.http import HtmlResponse, TextResponse

from crawlers.fields import profile_rates, read_detail
from crawlers.profiles import FieldRule, SiteProfile, canonical_host
from crawlers.settings import scrapy_settings
from crawlers.spiders.market import index_links, read_field, read_vendor_page, select_all, vendor_page_url
from dragnet.settings import DragnetSettings

SHOWN_CHARS = 100  # each value as printed
SHOWN_LINKS = 25  # links listed per group


@dataclass
class PageReport:
    """What one page is to a profile; ``problem`` is the one-line reason when it is no use."""

    url: str
    kind: str  # gate, index, detail, vendor, unknown
    status: int | None = None
    size: int = 0
    selectors: list[tuple[str, Any]] = field(default_factory=list)
    follow: list[tuple[str, str]] = field(default_factory=list)  # (URL, why: detail / index / next / vendor page)
    offsite: list[str] = field(default_factory=list)
    problem: str | None = None

    def lines(self) -> list[str]:
        """The report as printed: kind first, then each selector's result, then the links."""
        status = f"HTTP {self.status}, " if self.status is not None else ""
        out = [f"page: {self.url} ({status}{self.size} bytes)", f"kind: {self.kind}"]
        out += [f"  {name}: {shown(value)}" for name, value in self.selectors]
        out.append(f"follow ({len(self.follow)}):")
        out += [f"  {url}  [{why}]" for url, why in self.follow[:SHOWN_LINKS]]
        if len(self.follow) > SHOWN_LINKS:
            out.append(f"  ... {len(self.follow) - SHOWN_LINKS} more")
        out.append(f"offsite, not followed ({len(self.offsite)}):")
        out += [f"  {url}" for url in self.offsite[:SHOWN_LINKS]]
        if len(self.offsite) > SHOWN_LINKS:
            out.append(f"  ... {len(self.offsite) - SHOWN_LINKS} more")
        return out


def shown(value: Any) -> str:
    """A selector's result, truncated, on one line (scraped text: repr'd, never interpreted)."""
    if value is None or value == "" or value == []:
        return "(nothing)"
    if isinstance(value, list):
        items = ", ".join(repr(v[:SHOWN_CHARS] if isinstance(v, str) else v) for v in value[:8])
        return f"[{items}{', ...' if len(value) > 8 else ''}] ({len(value)})"
    text = str(value)
    return repr(text[:SHOWN_CHARS]) + (f" ... ({len(text)} chars)" if len(text) > SHOWN_CHARS else "")


def own_hosts(profile: SiteProfile) -> set[str]:
    """The hosts a crawl of ``profile`` follows links to (as :class:`ProfileSpider` does)."""
    return {canonical_host(h) for h in profile.hosts + profile.follow_hosts if h}


def response_for(url: str, body: bytes, status: int = 200) -> HtmlResponse:
    """A saved page as Scrapy would have received it from ``url``."""
    return HtmlResponse(url=url, body=body, status=status, encoding="utf-8")


def inspect_page(profile: SiteProfile, response: Any) -> PageReport:
    """What ``profile`` makes of ``response``.  Read-only: nothing is fetched or stored."""
    report = PageReport(url=response.url, kind="unknown", status=response.status, size=len(response.body))
    if not isinstance(response, TextResponse):
        report.problem = "the page is not HTML or text"
        return report
    if profile.gate is not None:
        text = response.text[:200_000]
        marker = next((m for m in profile.gate.markers if m in text), None)
        if marker is not None:
            report.kind = "gate"
            report.selectors.append(("gate.markers", marker))
            hint = (
                "a crawl solves this form"
                if profile.gate.solve == "form"
                else f"pass it by hand and run 'dragnet session import {profile.name} COOKIE'"
            )
            report.problem = f"the page is the site's gate (marker {marker!r}); nothing behind it was read: {hint}"
            return report
    if profile.kind == "market":
        _market(profile, response, report)
    elif profile.kind in ("forum", "social"):
        _forum(profile, response, report)
    else:
        report.problem = f"profile check reads market, forum and social profiles, not {profile.kind}"
    if report.status is not None and report.status >= 400 and report.problem is None and report.kind == "unknown":
        report.problem = f"the page answered HTTP {report.status}"
    return report


def _sort_link(report: PageReport, hosts: set[str], url: str, why: str) -> None:
    if canonical_host(url) in hosts:
        if (url, why) not in report.follow:
            report.follow.append((url, why))
    elif url not in report.offsite:
        report.offsite.append(url)


def _spelled(rule: FieldRule) -> str:
    return f"css {rule.css!r}" if rule.css is not None else f"xpath {rule.xpath!r}"


def _market(profile: SiteProfile, response: TextResponse, report: PageReport) -> None:
    listing = profile.listing
    assert listing is not None  # a market profile validates only with one
    hosts = own_hosts(profile)
    detail_re = re.compile(listing.detail_url)
    path = urlsplit(response.url).path
    if detail_re.search(path):
        report.kind = "detail"
        values = {name: read_field(response, rule) for name, rule in profile.fields.items()}
        report.selectors += [(f"fields.{name}", value) for name, value in values.items()]
        detail = read_detail(response, profile, profile_rates(profile))
        parsed = {k: v for k, v in detail.listing_fields().items() if k in ("price", "quantity", "location")}
        report.selectors += [(f"listing.{k}", v.model_dump(exclude_none=True)) for k, v in parsed.items() if v]
        if profile.offers is not None:
            report.selectors.append(("offers", [o.model_dump(exclude_none=True) for o in detail.offers]))
        report.selectors += [(f"attributes.{k}", v) for k, v in detail.attributes.items()]
        vendor_url = vendor_page_url(response, profile, values.get("vendor"))
        if profile.vendor_page is not None:
            source = profile.vendor_page.source
            shown_url = vendor_url or ("(from the index row)" if source == "index_url" else None)
            report.selectors.append((f"vendor_page.{source}", shown_url))
        if vendor_url:
            _sort_link(report, hosts, vendor_url, "vendor page")
        if not values.get("title"):
            report.problem = (
                f"a detail page by its URL, but the title rule {_spelled(profile.fields['title'])} matched nothing"
            )
        return
    links = index_links(response, profile)
    next_links = response.css(listing.next).getall()[:1] if listing.next else []
    if listing.rows is not None:
        report.selectors.append(("listing.rows", f"{len(response.css(listing.rows))} rows"))
    report.selectors.append(("listing.links", [href for href, _ in links]))
    if listing.next is not None:
        report.selectors.append(("listing.next", next_links[0] if next_links else None))
    if profile.vendor_page is not None and profile.vendor_page.index_url is not None:
        report.selectors.append(("vendor_page.index_url", [v for _, v in links if v]))
    if links or next_links:
        report.kind = "index"
        for href, vendor in links:
            url = urljoin(response.url, href)
            _sort_link(report, hosts, url, "detail" if detail_re.search(urlsplit(url).path) else "index")
            if vendor:
                _sort_link(report, hosts, vendor, "vendor page")
        for href in next_links:
            _sort_link(report, hosts, urljoin(response.url, href), "next")
        return
    if profile.vendor_page is not None:
        record = read_vendor_page(response, profile)
        read = {k: v for k, v in record.items() if k != "url" and v not in (None, [], {})}
        if read:
            report.kind = "vendor"
            report.selectors += [(f"vendor_page.{k}", v) for k, v in read.items()]
            return
    report.problem = (
        f"the page matched nothing: not a detail page (path {path!r} does not match {listing.detail_url!r}), "
        f"no index link (listing.links {listing.links!r} found none)"
        + (", no vendor page field" if profile.vendor_page is not None else "")
        + (", no gate marker" if profile.gate is not None else "")
    )


def _forum(profile: SiteProfile, response: TextResponse, report: PageReport) -> None:
    rule = profile.posts
    assert rule is not None  # a forum or social profile validates only with one
    hosts = own_hosts(profile)
    posts = response.css(rule.container)
    report.selectors.append(("posts.container", f"{len(posts)} posts"))
    if posts:
        first = posts[0]
        report.selectors += [
            ("posts.url (first)", first.css(rule.url).get()),
            ("posts.author (first)", first.css(rule.author).get()),
            ("posts.text (first)", " ".join(select_all(first, rule.text)).strip()),
        ]
    for selector in profile.follow:
        hrefs = response.css(selector).getall()
        report.selectors.append((f"follow {selector!r}", hrefs))
        for href in hrefs:
            _sort_link(report, hosts, urljoin(response.url, href), "follow")
    if posts:
        report.kind = "detail"
    elif report.follow or report.offsite:
        report.kind = "index"
    else:
        report.problem = f"the page matched nothing: no post (posts.container {rule.container!r}) and no link to follow"


class _CheckSpider(scrapy.Spider):
    """Fetches one page the way a crawl of the profile would (proxy, circuit, login, gate form)."""

    def __init__(self, profile: SiteProfile, url: str, box: dict[str, Any], **kwargs: Any) -> None:
        super().__init__(name=profile.name, **kwargs)
        self.profile = profile
        self.url = url
        self.box = box

    async def start(self) -> Any:
        # dragnet_check: a human gate is shown, not turned into a pause of the site
        yield scrapy.Request(
            self.url,
            callback=self.got,
            errback=self.failed,
            dont_filter=True,
            meta={"dragnet_check": True, "handle_httpstatus_all": True},
        )

    def got(self, response: Any) -> None:
        self.box["response"] = response

    def failed(self, failure: Any) -> None:
        self.box["error"] = f"{failure.type.__name__}: {failure.getErrorMessage()}"[:300]


def fetch_page(profile: SiteProfile, url: str, settings: DragnetSettings, proxy_url: str | None) -> Any:
    """One page through the crawler's download path; raises ``RuntimeError`` with the reason
    when it could not be fetched.  Twisted's reactor runs once: one call per process."""
    values = scrapy_settings(settings, proxy_url=proxy_url or None, log_level="WARNING")
    values.update({"ITEM_PIPELINES": {}, "EXTENSIONS": {}, "DEPTH_LIMIT": 0})
    box: dict[str, Any] = {}
    process = CrawlerProcess(values, install_root_handler=True)
    process.crawl(_CheckSpider, profile=profile, url=url, box=box)
    process.start()
    if "response" not in box:
        raise RuntimeError(
            box.get("error") or f"{url} was not fetched (is the site paused? see 'dragnet session status')"
        )
    return box["response"]
