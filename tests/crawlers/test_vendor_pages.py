"""Vendor pages by each source (a link on the detail page, a link in the index row, a template
filled with the vendor's name): the vendor record (key, fingerprint, rating, sales, contacts,
URL) against the simulated world's ground truth, one fetch per vendor page, failed pages
counted and the listing kept, and the profile refusals at load time."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import redis
import yaml
from aiohttp import web

from crawlers.profiles import ProfileError, load_profile
from crawlers.simsites import SimulatedWorld
from crawlers.simsites.data import new_pgp_key
from crawlers.vendors import parse_key, template_url
from dragnet.documents import MAX_PGP_KEY_CHARS, Listing
from tests.crawlers.conftest import run_crawl_subprocess
from tests.crawlers.sites import LoopbackSite
from tests.crawlers.test_address_guard import market_profile

BUNDLED = Path(__file__).resolve().parents[2] / "crawlers" / "profiles"
SHOP = "e" * 56 + ".onion"


def _profile_with(tmp_path: Path, name: str, change: dict[str, Any]) -> Path:
    """A bundled profile with some sections replaced, written under ``tmp_path``."""
    data = yaml.safe_load((BUNDLED / f"{name}.yaml").read_text())
    data.update(change)
    path = tmp_path / "profiles" / f"{name}.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(data))
    return path


def _vendor_problems(truth: list[dict[str, Any]], crawled: list[Listing]) -> list[str]:
    by_url = {item.canonical_url: item for item in crawled}
    problems = []
    for record in truth:
        got = by_url.get(record["url"])
        if got is None:
            problems.append(f"missed {record['url']}")
            continue
        want = record["vendor"]
        vendor = got.vendor
        if vendor is None:
            problems.append(f"{record['url']}: no vendor")
            continue
        checks = {
            "name": (vendor.name, want["name"]),
            "fingerprint": (vendor.pgp_fingerprint, want["pgp_fingerprint"]),
            "rating": (vendor.rating, want["rating"]),
            "sales": (vendor.sales, want["sales"]),
            "contacts": (
                {(c.kind, c.handle) for c in vendor.contacts},
                {(c["kind"], c["handle"]) for c in want["contacts"]},
            ),
            "url": (vendor.url, want["url"]),
            "key": (bool(vendor.pgp_key and vendor.pgp_key.startswith("-----BEGIN PGP PUBLIC KEY BLOCK-----")), True),
        }
        problems += [f"{record['url']} {n}: got {g!r}, want {w!r}" for n, (g, w) in checks.items() if g != w]
        if want["pgp_fingerprint"] not in got.pgp_fingerprints:
            problems.append(f"{record['url']}: vendor key not among the listing's fingerprints")
    return problems


@pytest.mark.integration
def test_vendor_pages_by_index_row_and_by_template(settings, tmp_path: Path) -> None:
    rows = _profile_with(
        tmp_path,
        "nightshade",
        {
            "listing": {
                "rows": "table.listings tr.row",
                "links": "a.item-link::attr(href)",
                "next": "a.next::attr(href)",
                "detail_url": r"^/item/\d+$",
            },
            "vendor_page": {
                "index_url": {"css": "td.vendor a::attr(href)", "first": True},
                "fields": {
                    "pgp": {"css": "pre.pgp::text"},
                    "rating": {"css": "span.rating::text", "first": True},
                    "sales": {"css": "span.sales::text", "first": True},
                    "contacts": {"css": "ul.contacts li::text", "many": True},
                },
            },
        },
    )
    template = _profile_with(
        tmp_path,
        "velvet",
        {
            "vendor_page": {
                "template": "/u/{vendor}",
                "fields": {
                    "pgp": {"css": "textarea.pgpkey::text"},
                    "rating": {"css": "dd.score::text", "first": True},
                    "sales": {"css": "dd.orders::text", "first": True},
                    "contacts": {"css": "div.reach p::text", "first": True},
                },
            }
        },
    )
    with SimulatedWorld(30, gates=False, index_vendor_links=True) as world:
        run = run_crawl_subprocess(
            [str(rows), str(template)],
            data_dir=settings.paths.data_dir,
            proxy_url=world.proxy_url,
            out=tmp_path / "items.jsonl",
        )
        truth = world.ground_truth()
        for market in ("nightshade", "velvet"):
            crawled = [item for item in run.listings if item.market == market]
            assert len(crawled) == 30, run.log[-3000:]
            problems = _vendor_problems(truth[market], crawled)
            assert problems == [], "\n".join(problems[:20])
            site = world.sites[market]
            vendors = {t["vendor"]["name"] for t in truth[market]}
            # one fetch per vendor page in the crawl, however many listings the vendor has
            assert {v: site.stats[f"vendor_page:{v}"] for v in vendors} == dict.fromkeys(vendors, 1)
            assert run.site(market)["dragnet/vendor_pages"] == len(vendors)
            assert "dragnet/vendor_pages/failed" not in run.site(market)
    assert any(t["vendor"]["contacts"] for t in truth["nightshade"])  # the contacts check compared something


@pytest.mark.integration
def test_failed_vendor_pages_are_counted_and_the_listing_kept(socks_proxy, settings, tmp_path: Path) -> None:
    def page(html: str, status: int = 200, content_type: str = "text/html") -> Any:
        async def handler(request: web.Request) -> web.StreamResponse:
            return web.Response(text=html, status=status, content_type=content_type)

        return handler

    def detail(vendor: str, href: str, n: int) -> str:
        return (
            f"<html><h1 class='title'>Listing {n} of {vendor}</h1><span class='fiat'>$5.00</span>"
            f"<a class='vendor' href='{href}'>{vendor}</a></html>"
        )

    index = "".join(f"<a class='item-link' href='/item/{i}'>{i}</a>" for i in (1, 2, 3))
    routes = {
        "/": page(f"<html>{index}</html>"),
        "/item/1": page(detail("gone", "/vendor/gone", 1)),
        "/item/2": page(detail("blob", "/vendor/blob", 2)),
        "/item/3": page(detail("gone", "/vendor/gone", 3)),
        "/vendor/gone": page("<html>not here</html>", status=404),
        "/vendor/blob": page("\x00\x01", content_type="application/octet-stream"),
    }
    profile = market_profile(
        tmp_path / "profiles" / "shop.yaml",
        "shop",
        [f"http://{SHOP}/"],
        fields={
            "title": {"css": "h1.title::text", "first": True},
            "price": {"css": "span.fiat::text", "first": True},
            "vendor": {"css": "a.vendor::text", "first": True},
        },
        vendor_page={"url": {"css": "a.vendor::attr(href)", "first": True}, "pgp": {"css": "pre.pgp::text"}},
    )
    with LoopbackSite(routes) as shop:
        socks_proxy.add(SHOP, ("127.0.0.1", shop.port))
        try:
            run = run_crawl_subprocess(
                [str(profile)], data_dir=settings.paths.data_dir, proxy_url=socks_proxy.url, out=tmp_path / "o.jsonl"
            )
        finally:
            socks_proxy.remove(SHOP)
    assert sorted((item.title, item.vendor.name if item.vendor else None) for item in run.listings) == [
        ("Listing 1 of gone", "gone"),
        ("Listing 2 of blob", "blob"),
        ("Listing 3 of gone", "gone"),
    ], run.log[-3000:]
    assert all(item.vendor and item.vendor.url is None and item.vendor.pgp_key is None for item in run.listings)
    stats = run.site("shop")
    assert stats["dragnet/vendor_pages/failed"] == 2  # /vendor/gone once, /vendor/blob once
    assert "dragnet/vendor_pages" not in stats
    assert shop.hits.count("/vendor/gone") == 1
    summary = [line for line in run.log.splitlines() if "vendor pages failed" in line]
    assert len(summary) == 1 and "HTTP 404 x1" in summary[0] and "not HTML x1" in summary[0], summary


def _write(tmp_path: Path, **extra: Any) -> Path:
    return market_profile(tmp_path / "p.yaml", "shop", [f"http://{SHOP}/"], **extra)


PGP = {"pgp": {"css": "pre.pgp::text"}}


@pytest.mark.parametrize(
    "extra, message",
    [
        (
            {"vendor_page": {"url": {"css": "a::attr(href)"}, "template": "/u/{vendor}", "fields": PGP}},
            "vendor_page needs exactly one of url, index_url, template (got url and template)",
        ),
        ({"vendor_page": {"fields": PGP}}, "vendor_page needs exactly one of url, index_url, template (got none)"),
        (
            {"vendor_page": {"index_url": {"css": "td a::attr(href)", "first": True}, "fields": PGP}},
            "vendor_page.index_url is read inside an index row: it needs listing.rows",
        ),
        ({"vendor_page": {"template": "/u/{name}", "fields": PGP}}, "must hold '{vendor}' once"),
        ({"vendor_page": {"template": "u/{vendor}", "fields": PGP}}, "must be a path"),
        (
            {"vendor_page": {"url": {"css": "a::attr(href)"}, "fields": {"feedback": {"css": "b::text"}}}},
            "unknown vendor field 'feedback'",
        ),
        (
            {"vendor_page": {"url": {"css": "a::attr(href)"}, "pgp": {"css": "pre::text"}, "fields": PGP}},
            "say the same thing",
        ),
        (
            {"vendor_page": {"url": {"css": "a::attr(href)"}, "fields": PGP, "tempalte": "/u/{vendor}"}},
            "vendor_page.tempalte: unknown key; did you mean 'template'?",
        ),
    ],
)
def test_vendor_page_profiles_refused_at_load(extra: dict[str, Any], message: str, tmp_path: Path) -> None:
    with pytest.raises(ProfileError) as caught:
        load_profile(_write(tmp_path, **extra))
    assert message in str(caught.value), str(caught.value)


def test_template_needs_a_vendor_field_and_old_pgp_form_still_loads(tmp_path: Path) -> None:
    with pytest.raises(ProfileError, match="template is filled from the listing's vendor: it needs fields.vendor"):
        load_profile(_write(tmp_path, vendor_page={"template": "/u/{vendor}", "fields": PGP}))
    old = load_profile(_write(tmp_path, vendor_page={"url": {"css": "a::attr(href)", "first": True}, **PGP}))
    assert old.vendor_page is not None and old.vendor_page.source == "url"
    assert old.vendor_page.fields["pgp"].css == "pre.pgp::text"
    rows = load_profile(
        _write(
            tmp_path,
            listing={"rows": "tr.row", "links": "a::attr(href)", "detail_url": "^/item/"},
            vendor_page={"index_url": {"css": "td a::attr(href)", "first": True}, "fields": PGP},
        )
    )
    assert rows.vendor_page is not None and rows.vendor_page.source == "index_url"
    for name in ("nightshade", "velvet"):  # the bundled profiles keep their older form
        assert load_profile(BUNDLED / f"{name}.yaml").vendor_page is not None


def test_key_block_capped_and_an_unreadable_block_kept_without_fingerprint() -> None:
    key = new_pgp_key("vendor <v@example.onion>")
    armored = str(key.pubkey)
    text, fingerprint = parse_key(["Here is my key:\n", armored, "\nthanks"])
    assert text == armored.strip() and fingerprint == str(key.fingerprint).replace(" ", "")
    broken = "-----BEGIN PGP PUBLIC KEY BLOCK-----\n\nnot base64 at all!!\n-----END PGP PUBLIC KEY BLOCK-----"
    assert parse_key([broken]) == (broken, None)
    huge, fingerprint = parse_key(["-----BEGIN PGP PUBLIC KEY BLOCK-----\n" + "A" * 100_000])
    assert huge is not None and len(huge) == MAX_PGP_KEY_CHARS and fingerprint is None
    assert parse_key(["fingerprint: " + "ABCD 1234 " * 5]) == (None, "ABCD1234" * 5)
    assert parse_key([]) == (None, None)


def test_template_quotes_the_vendor_name_into_one_path_segment() -> None:
    assert template_url("/u/{vendor}", "a b/../admin?x=1", "http://m.onion/p/item-1") == (
        "http://m.onion/u/a%20b%2F..%2Fadmin%3Fx%3D1"
    )
    assert template_url("/u/{vendor}", "Frosty", "http://mirror.onion/x") == "http://mirror.onion/u/Frosty"


@pytest.mark.integration
def test_shared_frontier_shares_whole_vendor_records(redis_server, settings, tmp_path: Path) -> None:
    """With a shared frontier the vendor record (not only its fingerprint) is shared: a second
    crawl in the window reads every vendor from Redis and fetches no vendor page again."""
    client = redis.Redis.from_url(redis_server.url)
    for key in client.scan_iter("nightshade:*"):
        client.delete(key)
    client.delete("dragnet:crawl:versions")
    env = {"DRAGNET_REDIS__URL": redis_server.url}
    with SimulatedWorld(20, faults=False, social_posts=1, forum_posts=1) as world:
        night = world.sites["nightshade"]
        truth = world.ground_truth()["nightshade"]
        vendors = {t["vendor"]["name"] for t in truth}
        runs = []
        for attempt in range(2):
            runs.append(
                run_crawl_subprocess(
                    ["nightshade"],
                    data_dir=settings.paths.data_dir,
                    proxy_url=world.proxy_url,
                    out=tmp_path / f"items{attempt}.jsonl",
                    env=env,
                    shared_frontier=True,
                )
            )
            stored = {k.decode() for k in client.scan_iter("nightshade:vendor_page:*")}
            assert stored == {f"nightshade:vendor_page:/vendor/{v}" for v in vendors}
            # forget the pages crawled (the dupefilter and queue), keep the vendor records
            for key in client.scan_iter("nightshade:*"):
                if b":vendor_page:" not in key:
                    client.delete(key)
            client.delete("dragnet:crawl:versions")
        assert {v: night.stats[f"vendor_page:{v}"] for v in vendors} == dict.fromkeys(vendors, 1)
        assert runs[0].site("nightshade")["dragnet/vendor_pages"] == len(vendors)
        assert "dragnet/vendor_pages" not in runs[1].site("nightshade")
        for run in runs:
            assert len(run.listings) == 20
            got = {i.canonical_url: i.vendor for i in run.listings}
            for record in truth:
                vendor = got[record["url"]]
                assert vendor is not None and vendor.pgp_fingerprint == record["vendor"]["pgp_fingerprint"]
                assert vendor.pgp_key and vendor.url == record["vendor"]["url"]
