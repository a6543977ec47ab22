"""Two markets whose layouts the crawler's authors did not write (issue #15), crawled from their
site profiles alone through the SOCKS5 proxy and compared with what the sites serve.

``cinder`` is a ledger-table market (vendor pages linked only from the index rows, facts in a
``<dl>`` in changing order, fiat and crypto prices in either order, mangled PGP keys); ``steppe``
is a Russian-language dead-drop shop (price tiers in tenge, city / district / drop type, purity
and form kept as attributes, shop pages with Telegram / Session contacts).  The first tests check
the sites themselves against their ground truth with a reader of their own (lxml, pgpy), so that
a site bug is never taken for a crawler bug; the rest check the crawl, one group of fields each.
"""

from __future__ import annotations

import re
import urllib.error
import urllib.request
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urljoin, urlsplit

import lxml.html
import pytest
import yaml

from crawlers.check import inspect_page, response_for
from crawlers.profiles import load_profile
from crawlers.simsites import HOSTS, PROFILES_DIR, SimulatedWorld
from crawlers.simsites.cinder import CinderSite
from crawlers.simsites.steppe import SteppeSite
from dragnet.documents import Listing, Price, Vendor
from tests.crawlers.conftest import CrawlRun, run_crawl_subprocess

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    import pgpy

pytestmark = pytest.mark.integration

NEW_MARKETS = ("cinder", "steppe")
# Every top-level key of the agreed profile syntax (crawlers/profiles.py plus syntax II).
PROFILE_KEYS = {
    "name", "kind", "title", "start_urls", "mirrors", "follow_hosts", "signed_mirrors_path", "login", "gate",
    "listing", "fields", "vendor_page", "follow", "posts", "max_depth", "concurrency", "delay_s", "max_scrolls",
    "channels", "directory", "max_pages", "offers", "currency", "usd_rates",
}  # fmt: skip


# -- reading the sites without the crawler ------------------------------------------------------
def _get(site: Any, path_or_url: str) -> lxml.html.HtmlElement:
    """A page of ``site`` straight from its loopback port (``path_or_url``: a path or an onion URL)."""
    parts = urlsplit(path_or_url)
    path = parts.path + (f"?{parts.query}" if parts.query else "")
    with urllib.request.urlopen(site.direct_url + path, timeout=10) as response:
        assert response.status == 200, path
        return lxml.html.fromstring(response.read().decode("utf-8"))


def _text(node: Any) -> str:
    return " ".join(node.text_content().split()) if node is not None else ""


def _fingerprint(armoured: str | None) -> str | None:
    if not armoured:
        return None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            key, _ = pgpy.PGPKey.from_blob(armoured)
    except Exception:  # noqa: BLE001 - a block that does not parse has no fingerprint
        return None
    return str(key.fingerprint).replace(" ", "").upper()


def _key_lines(text: str | None) -> list[str] | None:
    """An armoured block as its non-empty lines (indentation and line endings aside): the lines
    are the key, a block squashed onto one line can no longer be imported."""
    return [line.strip() for line in text.strip().splitlines() if line.strip()] if text else None


@pytest.fixture(scope="module")
def extra_world(socks_proxy: Any) -> Iterator[SimulatedWorld]:
    with SimulatedWorld(
        2,
        proxy=socks_proxy,
        forum_posts=2,
        social_posts=2,
        faults=False,
        gates=False,
        logins=False,
        extra_markets=True,
    ) as sim:
        yield sim


def test_extra_markets_are_opt_in() -> None:
    world = SimulatedWorld(2, forum_posts=2, social_posts=2)
    assert not set(NEW_MARKETS) & set(world.sites)
    assert all(HOSTS[name] for name in NEW_MARKETS)


def test_cinder_serves_its_ground_truth(extra_world: SimulatedWorld) -> None:
    site = extra_world.sites["cinder"]
    assert isinstance(site, CinderSite)
    truth = {urlsplit(r["url"]).path: r for r in site.ground_truth()}
    assert 40 <= len(truth) <= 80

    # The index: a table walked by rel=next; each row links the offer and its seller.
    rows: list[tuple[str, str]] = []
    url, pages, sponsored = "/ledger", 0, 0
    while url:
        page = _get(site, url)
        pages += 1
        for tr in page.cssselect("table.ledger tbody tr"):
            links = [a.get("href") for a in tr.cssselect("a")]
            if not links:
                sponsored += 1
                continue
            rows.append((links[0], links[1]))
        nxt = page.cssselect("a[rel=next]")
        url = urljoin(f"http://x{url}", nxt[0].get("href")).removeprefix("http://x") if nxt else ""
    assert pages == site.pages >= 3 and sponsored == pages
    assert sorted(href for href, _ in rows) == sorted(truth)
    for href, seller in rows:
        assert seller == urlsplit(truth[href]["vendor"]["url"]).path

    fiat_re = re.compile(r"([$€])([\d,]+\.\d{2})")
    crypto_re = re.compile(r"(\d+\.\d+) (BTC|XMR)")
    orders = set()
    for path, record in truth.items():
        page = _get(site, path)
        assert _text(page.cssselect("h1.offer-title")[0]).startswith(record["title"])
        assert page.cssselect("h1.offer-title")[0].text.strip() == record["title"]
        dts = page.cssselect("dl dt")
        facts = {_text(dt): dt.getnext() for dt in dts}
        orders.add(tuple(facts))
        assert _text(facts["Vendor"].cssselect("span.vname")[0]) == record["vendor"]["name"]
        assert not [a for a in page.iter("a") if "/seller/" in (a.get("href") or "")]
        assert (_text(facts["Origin"]) if "Origin" in facts else None) == record["ships_from"]
        shipped = [s.strip() for s in _text(facts["Ships to"]).split(",")] if "Ships to" in facts else []
        assert shipped == record["ships_to"]
        assert (_text(facts["Escrow"]) if "Escrow" in facts else None) == record["escrow"]
        assert _text(facts["Category"]) == record["category"]
        quantity = record["quantity"]
        assert _text(facts["Amount"]) == f"{quantity['value']:g} {quantity['unit']}"
        shown, price = _text(facts["Price"]), record["price"]
        assert shown == price["shown"]
        fiat, crypto = fiat_re.search(shown), crypto_re.search(shown)
        assert fiat is not None and crypto is not None
        assert ({"$": "USD", "€": "EUR"}[fiat.group(1)], float(fiat.group(2).replace(",", ""))) == (
            price["currency"],
            price["amount"],
        )
        assert (float(crypto.group(1)), crypto.group(2)) == (price["crypto_amount"], price["crypto_currency"])
        assert " ".join(_text(p) for p in page.cssselect("section.about p")) == record["text"]
    assert len(orders) > 10  # the facts really move around
    shown_prices = [r["price"]["shown"] for r in truth.values()]
    assert any(crypto_re.match(s) for s in shown_prices) and any(fiat_re.match(s) for s in shown_prices)

    # Vendor pages: stats, contacts, and the key block exactly as shown (some do not parse).
    vendors = {r["vendor"]["url"]: r["vendor"] for r in truth.values()}
    parsed = 0
    banned = [v for v in vendors.values() if v["status"] != 200]
    assert len(banned) == 1
    with pytest.raises(urllib.error.HTTPError) as refused:
        _get(site, banned[0]["url"])
    assert refused.value.code == banned[0]["status"] == 404
    for url, vendor in vendors.items():
        if vendor["status"] != 200:
            continue
        page = _get(site, url)
        stats = {_text(tr.cssselect("th")[0]): _text(tr.cssselect("td")[0]) for tr in page.cssselect("tr")}
        rating = re.match(r"(\d\.\d+)/5", stats["Rating"])
        assert (float(rating.group(1)) if rating else None) == vendor["rating"]
        assert int(stats["Sales"]) == vendor["sales"]
        assert [_text(li) for li in page.cssselect("ul.contact-list li")] == [c["shown"] for c in vendor["contacts"]]
        assert all(c["handle"] in c["shown"] for c in vendor["contacts"])
        pre = page.cssselect("pre.pgp-key")
        key = pre[0].text_content() if pre else None
        assert key == vendor["pgp_key"]
        assert _fingerprint(key) == vendor["pgp_fingerprint"]
        parsed += vendor["pgp_fingerprint"] is not None
    assert 0 < parsed < sum(v["pgp_key"] is not None for v in vendors.values())  # some keys are mangled
    assert any(v["pgp_key"] is None for v in vendors.values())


def test_steppe_serves_its_ground_truth(extra_world: SimulatedWorld) -> None:
    site = extra_world.sites["steppe"]
    assert isinstance(site, SteppeSite)
    truth = {urlsplit(r["url"]).path: r for r in site.ground_truth()}
    assert 40 <= len(truth) <= 80

    # Home -> cities -> pages of cards.
    found: list[str] = []
    for city in _get(site, "/").cssselect("ul.goroda a"):
        url = city.get("href")
        while url:
            page = _get(site, url)
            found += [a.get("href") for a in page.cssselect("div.kartochka a.podrobnee")]
            nxt = page.cssselect("a.dalee")
            url = nxt[0].get("href") if nxt else ""
    assert sorted(found) == sorted(truth)

    units = {"g": "г", "units": "шт"}
    for path, record in truth.items():
        page = _get(site, path)
        assert _text(page.cssselect("h1.zagolovok")[0]) == record["title"]
        rows = {
            _text(r.cssselect("span.k")[0]).rstrip(":"): r.cssselect("span.v")[0] for r in page.cssselect("div.stroka")
        }
        location, attributes = record["location"], record["attributes"]
        assert _text(rows["Магазин"]) == record["vendor"]["name"]
        assert unquote(rows["Магазин"].cssselect("a")[0].get("href")) == unquote(urlsplit(record["vendor"]["url"]).path)
        assert _text(rows["Город"]) == location["city"]
        assert (_text(rows["Район"]) if "Район" in rows else None) == location["district"]
        assert _text(rows["Тип клада"]) == location["drop_type"]
        assert _text(rows["Категория"]) == record["category"]
        assert (_text(rows["Чистота"]) if "Чистота" in rows else None) == attributes.get("purity")
        assert _text(rows["Форма"]) == attributes["form"]
        tiers = page.cssselect("table.fasovki tbody tr.fasovka")
        assert len(tiers) == len(record["offers"]) >= 2
        for tier, offer in zip(tiers, record["offers"], strict=True):
            qty, price = _text(tier.cssselect("td.ves")[0]), tier.cssselect("td.cena")[0].text_content()
            assert qty == offer["shown"]["quantity"]
            value, unit = qty.split(" ")
            assert (float(value.replace(",", ".")), unit) == (offer["quantity"], units[offer["unit"]])
            assert price == offer["shown"]["price"]
            assert float(re.sub(r"\D", "", price)) == offer["price"]["amount"]
            assert offer["price"]["currency"] == "KZT"
        assert record["price"] == {"amount": record["offers"][0]["price"]["amount"], "currency": "KZT"}
        assert " ".join(_text(p) for p in page.cssselect("div.opisanie p")) == record["text"]

    shops = {r["vendor"]["url"]: r["vendor"] for r in truth.values()}
    assert len(shops) >= 4
    for url, shop in shops.items():
        page = _get(site, url)  # the URL-quoted Cyrillic name resolves
        assert _text(page.cssselect("h1")[0]) == shop["name"]
        assert float(_text(page.cssselect("p.reiting b")[0])) == shop["rating"]
        assert int(_text(page.cssselect("p.prodazhi b")[0])) == shop["sales"]
        assert [_text(li) for li in page.cssselect("div.kontakty li")] == [c["shown"] for c in shop["contacts"]]
        pre = page.cssselect("pre.pgp")
        assert (pre[0].text_content() if pre else None) == shop["pgp_key"]
        assert _fingerprint(shop["pgp_key"]) == shop["pgp_fingerprint"]
    assert any(s["pgp_fingerprint"] for s in shops.values())


# -- the profiles -------------------------------------------------------------------------------
@pytest.mark.parametrize("name", NEW_MARKETS)
def test_profile_is_yaml_for_the_simulated_site(name: str) -> None:
    raw = yaml.safe_load((PROFILES_DIR / f"{name}.yaml").read_text(encoding="utf-8"))
    assert isinstance(raw, dict) and raw["name"] == name and raw["kind"] == "market"
    assert set(raw) <= PROFILE_KEYS, set(raw) - PROFILE_KEYS
    assert [urlsplit(u).hostname for u in raw["start_urls"]] == HOSTS[name]


@pytest.mark.parametrize("name", NEW_MARKETS)
def test_profile_loads(name: str) -> None:
    """Needs the crawler's syntax II (xpath, regex, rows, index_url, offers, currency, usd_rates)."""
    profile = load_profile(PROFILES_DIR / f"{name}.yaml")
    assert profile.name == name


# -- the crawls ---------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def crawls(extra_world: SimulatedWorld, tmp_path_factory: pytest.TempPathFactory) -> dict[str, CrawlRun | str]:
    """Each new market crawled once, from its profile alone (or why the crawl failed)."""
    results: dict[str, CrawlRun | str] = {}
    for name in NEW_MARKETS:
        work = tmp_path_factory.mktemp(f"crawl-{name}")
        try:
            results[name] = run_crawl_subprocess(
                [name], data_dir=work / "data", proxy_url=extra_world.proxy_url, out=work / "items.jsonl"
            )
        except AssertionError as exc:
            results[name] = str(exc).strip().splitlines()[-1][:500] if str(exc).strip() else "crawl failed"
    return results


def _crawled(crawls: dict[str, CrawlRun | str], name: str) -> list[Listing]:
    run = crawls[name]
    if isinstance(run, str):
        pytest.fail(f"the {name} crawl did not run: {run}")
    return [item for item in run.listings if item.market == name]


def _pairs(crawls: dict[str, CrawlRun | str], world: SimulatedWorld, name: str) -> list[tuple[dict, Listing]]:
    by_url = {item.canonical_url: item for item in _crawled(crawls, name)}
    return [(r, by_url[r["url"]]) for r in world.ground_truth()[name] if r["url"] in by_url]


def _needs(model: type, *fields: str) -> None:
    """Fail with "feature not built" (rather than an AttributeError) when the model lacks fields."""
    missing = [f for f in fields if f not in model.model_fields]  # type: ignore[attr-defined]
    if missing:
        pytest.fail(f"dragnet.documents.{model.__name__} has no {missing}: the crawler feature is not built yet")


def _report(problems: list[str]) -> None:
    assert problems == [], f"{len(problems)} problems:\n" + "\n".join(problems[:30])


def _profile_rates(name: str) -> dict[str, tuple[float, str]]:
    raw = yaml.safe_load((PROFILES_DIR / f"{name}.yaml").read_text(encoding="utf-8"))
    return {cur: (float(r["rate"]), str(r["date"])) for cur, r in (raw.get("usd_rates") or {}).items()}


def _check_usd(where: str, got: Any, amount: float, currency: str, rates: dict[str, tuple[float, str]]) -> list[str]:
    """``usd`` computed from the profile's rate, and the rate and its date stored on the price."""
    problems = []
    if currency == "USD":
        want: tuple[Any, Any, Any] = (amount, 1.0, None)
    elif currency in rates:
        rate, date = rates[currency]
        want = (round(amount * rate, 2), rate, date)
    else:
        want = (None, None, None)
    usd_rate = got.usd_rate
    rate_date = str(got.rate_date) if got.rate_date is not None else None
    if currency == "USD":
        rate_date = None  # USD needs no rate: its date is not asserted
    if (got.usd, usd_rate, rate_date) != want:
        problems.append(f"{where} usd/usd_rate/rate_date: got {(got.usd, usd_rate, rate_date)}, want {want}")
    return problems


@pytest.mark.parametrize("name", NEW_MARKETS)
def test_every_listing_is_crawled(crawls: dict[str, CrawlRun | str], extra_world: SimulatedWorld, name: str) -> None:
    crawled = _crawled(crawls, name)
    urls = [item.canonical_url for item in crawled]
    truth = {r["url"] for r in extra_world.ground_truth()[name]}
    assert len(urls) == len(set(urls)), "duplicates"
    assert set(urls) - truth == set(), "not listings of the site"
    assert truth - set(urls) == set(), f"missed {len(truth - set(urls))} of {len(truth)}"


@pytest.mark.parametrize("name", NEW_MARKETS)
def test_listing_facts(crawls: dict[str, CrawlRun | str], extra_world: SimulatedWorld, name: str) -> None:
    """Title, description, vendor, origin, destinations, escrow and category of every listing."""
    _needs(Listing, "escrow", "category")
    problems = []
    for record, got in _pairs(crawls, extra_world, name):
        checks = {
            "title": (got.title, record["title"]),
            "text": (got.text, record["text"]),
            "vendor": (got.vendor.name if got.vendor else None, record["vendor"]["name"]),
            "ships_from": (got.ships_from, record["ships_from"]),
            "ships_to": (sorted(got.ships_to), sorted(record["ships_to"])),
            "escrow": (got.escrow, record["escrow"]),
            "category": (got.category, record["category"]),
        }
        if record.get("quantity"):
            want_q = (record["quantity"]["value"], record["quantity"]["unit"])
            checks["quantity"] = ((got.quantity.value, got.quantity.unit) if got.quantity else None, want_q)
        problems += [f"{record['url']} {k}: got {v!r}, want {w!r}" for k, (v, w) in checks.items() if v != w]
    _report(problems)


def test_cinder_prices_fiat_crypto_and_usd(crawls: dict[str, CrawlRun | str], extra_world: SimulatedWorld) -> None:
    """Fiat and crypto in either order: fiat is the price, crypto beside it, USD at the profile's rate."""
    _needs(Price, "usd_rate", "rate_date")
    rates = _profile_rates("cinder")
    problems = []
    for record, got in _pairs(crawls, extra_world, "cinder"):
        want = record["price"]
        where = f"{record['url']} ({want['shown']})"
        if got.price is None:
            problems.append(f"{where}: no price")
            continue
        shown = (got.price.amount, got.price.currency, got.price.crypto_amount, got.price.crypto_currency)
        wanted = (want["amount"], want["currency"], want["crypto_amount"], want["crypto_currency"])
        if shown != wanted:
            problems.append(f"{where}: got {shown}, want {wanted}")
        problems += _check_usd(where, got.price, want["amount"], want["currency"], rates)
    _report(problems)


def test_steppe_location(crawls: dict[str, CrawlRun | str], extra_world: SimulatedWorld) -> None:
    _needs(Listing, "location")
    problems = []
    for record, got in _pairs(crawls, extra_world, "steppe"):
        loc = got.location
        have = (loc.city, loc.district, loc.drop_type) if loc else None
        want = record["location"]
        if have != (want["city"], want["district"], want["drop_type"]):
            problems.append(f"{record['url']} location: got {have}, want {want}")
    _report(problems)


def test_steppe_offer_tiers(crawls: dict[str, CrawlRun | str], extra_world: SimulatedWorld) -> None:
    """Every tier: quantity, unit, price in KZT (bare numbers, ₸, тг), USD at the profile's KZT rate;
    the listing's price is its first tier's."""
    _needs(Listing, "offers")
    _needs(Price, "usd_rate", "rate_date")
    rates = _profile_rates("steppe")
    problems = []
    for record, got in _pairs(crawls, extra_world, "steppe"):
        if len(got.offers) != len(record["offers"]):
            problems.append(f"{record['url']}: {len(got.offers)} offers, want {len(record['offers'])}")
            continue
        for n, (offer, want) in enumerate(zip(got.offers, record["offers"], strict=True)):
            where = f"{record['url']} tier {n} ({want['shown']['quantity']} = {want['shown']['price']!r})"
            have = (offer.quantity, offer.unit, offer.price.amount if offer.price else None)
            wanted = (want["quantity"], want["unit"], want["price"]["amount"])
            if have != wanted or (offer.price and offer.price.currency != "KZT"):
                problems.append(f"{where}: got {have} {offer.price.currency if offer.price else ''}, want {wanted} KZT")
            if offer.price is not None:
                problems += _check_usd(where, offer.price, want["price"]["amount"], "KZT", rates)
        first = record["offers"][0]["price"]
        if got.price is None or (got.price.amount, got.price.currency) != (first["amount"], "KZT"):
            problems.append(f"{record['url']} price: got {got.price}, want the first tier's {first['amount']} KZT")
    _report(problems)


def test_steppe_attributes(crawls: dict[str, CrawlRun | str], extra_world: SimulatedWorld) -> None:
    """Purity and form have no model slot: they are kept as attributes, and only where shown."""
    _needs(Listing, "attributes")
    problems = []
    for record, got in _pairs(crawls, extra_world, "steppe"):
        have = {k: v for k, v in (got.attributes or {}).items() if v not in (None, "", [])}
        if have != record["attributes"]:
            problems.append(f"{record['url']} attributes: got {have}, want {record['attributes']}")
    _report(problems)


@pytest.mark.parametrize("name", NEW_MARKETS)
def test_vendor_pages(crawls: dict[str, CrawlRun | str], extra_world: SimulatedWorld, name: str) -> None:
    """Each listing's vendor: page URL, contacts, rating, sales, PGP key text as shown (kept even
    when it does not parse) and its fingerprint (None for the mangled keys)."""
    _needs(Vendor, "pgp_key", "rating", "sales", "contacts", "url")
    problems = []
    for record, got in _pairs(crawls, extra_world, name):
        want = record["vendor"]
        vendor = got.vendor
        if vendor is None:
            problems.append(f"{record['url']}: no vendor")
            continue
        checks = {
            "url": (unquote(vendor.url or ""), unquote(want["url"])),
            "rating": (vendor.rating, want["rating"]),
            "sales": (vendor.sales, want["sales"]),
            "contacts": (
                sorted((c.kind, c.handle) for c in vendor.contacts),
                sorted((c["kind"], c["handle"]) for c in want["contacts"]),
            ),
            "pgp_key": (_key_lines(vendor.pgp_key), _key_lines(want["pgp_key"])),
            "pgp_fingerprint": (vendor.pgp_fingerprint, want["pgp_fingerprint"]),
        }
        if want["status"] != 200:
            del checks["url"]  # the page failed: whether the URL is kept is not asserted; nothing else is known
        problems += [
            f"{record['url']} vendor {want['name']} {k}: got {str(v)[:160]}, want {str(w)[:160]}"
            for k, (v, w) in checks.items()
            if v != w
        ]
    _report(problems)


def test_a_failed_vendor_page_keeps_the_listing(crawls: dict[str, CrawlRun | str], extra_world: SimulatedWorld) -> None:
    """The banned seller's page answers 404: counted as failed, its listings kept with the vendor's name."""
    pairs = _pairs(crawls, extra_world, "cinder")
    banned = [(r, got) for r, got in pairs if r["vendor"]["status"] != 200]
    truth = [r for r in extra_world.ground_truth()["cinder"] if r["vendor"]["status"] != 200]
    assert truth and len(banned) == len(truth)
    assert all(got.vendor and got.vendor.name == r["vendor"]["name"] for r, got in banned)
    run = crawls["cinder"]
    assert isinstance(run, CrawlRun)
    assert run.site("cinder").get("dragnet/vendor_pages/failed", 0) >= 1


def test_crawl_went_through_the_proxy_by_onion_name(
    crawls: dict[str, CrawlRun | str], extra_world: SimulatedWorld
) -> None:
    for name in NEW_MARKETS:
        _crawled(crawls, name)
        creds = extra_world.proxy.stats.credentials_by_host if extra_world.proxy else {}
        assert creds.get(HOSTS[name][0]) == {f"dragnet-{name}:isolate"}
        for item in _crawled(crawls, name):
            assert item.snapshot is not None and Path(item.snapshot.warc_file).is_file()


def test_profile_check_shows_tiers_and_attributes_of_a_detail_page(extra_world: SimulatedWorld) -> None:
    """What `dragnet profile check` prints for a dead-drop listing: every tier and every attribute
    the profile reads, as the crawl would store them (not only the raw selector strings)."""
    site = extra_world.sites["steppe"]
    record = site.ground_truth()[0]
    path = urlsplit(record["url"]).path
    with urllib.request.urlopen(f"http://127.0.0.1:{site.port}{path}", timeout=10) as answer:
        body = answer.read()
    profile = load_profile(PROFILES_DIR / "steppe.yaml")
    report = inspect_page(profile, response_for(record["url"], body))
    shown = dict(report.selectors)
    assert (report.kind, report.problem) == ("detail", None)
    tiers = [(o["quantity"], o["unit"], o["price"]["amount"], o["price"]["currency"]) for o in shown["offers"]]
    assert tiers == [(o["quantity"], o["unit"], o["price"]["amount"], "KZT") for o in record["offers"]]
    attributes = {k.removeprefix("attributes."): v for k, v in shown.items() if k.startswith("attributes.")}
    assert {k: v for k, v in attributes.items() if v} == record["attributes"]
    assert shown["listing.location"]["city"] == record["location"]["city"]
