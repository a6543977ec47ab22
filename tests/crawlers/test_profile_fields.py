"""Field rules of site profiles: XPath, regex and currency options, the listing slot each market
field fills (refused when the profile loads, with the file and field named), price tiers,
attributes, and a detail page read into a listing's parts at dated rates."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from parsel import Selector

from crawlers.fields import profile_rates, read_detail, read_field
from crawlers.profiles import FieldRule, ProfileError, SiteProfile, find_profile, load_profile
from dragnet.documents import Listing, Location, Offer, Price
from extract.rates import Rate

HEAD = "name: x\nkind: market\nstart_urls: [http://a.onion/]\nlisting: {links: a, detail_url: x}\n"
DAY = date(2026, 11, 1)
RATES = {c: Rate(usd, DAY) for c, usd in {"USD": 1.0, "EUR": 1.08, "BTC": 65000.0, "XMR": 160.0}.items()}


def _load(tmp_path: Path, body: str) -> SiteProfile:
    path = tmp_path / "x.yaml"
    path.write_text(HEAD + body)
    return load_profile(path)


def _refused(tmp_path: Path, body: str) -> str:
    path = tmp_path / "x.yaml"
    path.write_text(HEAD + body)
    with pytest.raises(ProfileError) as info:
        load_profile(path)
    message = str(info.value)
    assert str(path) in message
    return message


TITLE = "fields:\n  title: {css: h1::text, first: true}\n"


@pytest.mark.parametrize(
    "body, message",
    [
        (
            TITLE + "  price: {css: p.cost::text}\n",
            "fields.price: would join every tier into one number; add first: true or use offers:",
        ),
        (
            TITLE + "  crypto_price: {css: p::text}\n  price: {css: p::text, first: true}\n",
            "fields.crypto_price: would join every tier",
        ),
        (
            TITLE + "  price: {css: p::text, first: true}\n  vendor: {css: a::text, many: true}\n",
            "fields.vendor: 'many: true' reads a list, but this field holds one value",
        ),
        (
            TITLE + "  price: {css: p::text, first: true}\n  seller: {css: a::text}\n",
            "unknown field 'seller'; did you mean 'vendor'?",
        ),
        (TITLE + "  price: {css: p::text, first: true}\n  pay: {css: a::text}\n", "did you mean 'payment'?"),
        (TITLE + "  price: {css: p::text, first: true, xpath: //p}\n", "give exactly one of 'css' and 'xpath'"),
        (TITLE + "  price: {first: true}\n", "give exactly one of 'css' and 'xpath'"),
        (TITLE + "  price: {xpath: '//p[', first: true}\n", "invalid XPath '//p['"),
        (TITLE + "  price: {css: p, regex: '(\\d+'}\n", "invalid regex '(\\\\d+'"),
        (TITLE + "  price: {css: p, first: true, regx: x}\n", "fields.price.regx: unknown key; did you mean 'regex'?"),
        (
            TITLE + "  price: {css: p, first: true}\n  vendor: {css: a, currency: EUR}\n",
            "fields.vendor: 'currency' is for money fields",
        ),
        (TITLE + "  price: {css: p, first: true, currency: 'E U R'}\n", "fields.price.currency"),
        (
            TITLE + "offers: {each: {css: tr}, price: {css: td}}\n",
            "offers.price: would join every tier into one number; add first: true or a regex",
        ),
        (TITLE + "offers: {price: {css: td, first: true}}\n", "offers.each: Field required"),
        (
            TITLE + "  price: {css: p, first: true}\n  tiers: {css: x}\n",
            "unknown field 'tiers'; did you mean 'offers'?",
        ),
        (TITLE + "  price: {css: p, first: true}\ntiers: {css: x}\n", "tiers: unknown key; did you mean 'offers'?"),
        (
            TITLE + "offers: {each: {css: tr, first: true}, price: {css: td, first: true}}\n",
            "offers.each.first: unknown key",
        ),
        (
            TITLE + "offers: {each: {css: tr}, price: {css: td, first: true}, tier: {css: x}}\n",
            "offers.tier: unknown key",
        ),
        (TITLE + "  price: {css: p, first: true}\nattributes: {Purity: {css: li}}\n", "attribute name 'Purity'"),
        (
            TITLE + "  price: {css: p, first: true}\nattributes: {purity: {css: li, fisrt: true}}\n",
            "attributes.purity.fisrt: unknown key; did you mean 'first'?",
        ),
        (
            TITLE + "  price: {css: p, first: true}\nusd_rates: {RUB: {rate: 0.011}}\n",
            "usd_rates.RUB.date: Field required",
        ),
        (
            TITLE + "  price: {css: p, first: true}\nusd_rates: {RUB: {rate: -1, date: 2026-11-30}}\n",
            "usd_rates.RUB.rate",
        ),
        (TITLE, "needs fields ['price'] (a price may come from 'offers:')"),
    ],
)
def test_a_rule_that_cannot_fill_its_slot_is_refused_when_the_profile_loads(
    tmp_path: Path, body: str, message: str
) -> None:
    assert message in _refused(tmp_path, body)


def test_sections_under_fields_are_the_top_level_sections(tmp_path: Path) -> None:
    nested = _load(
        tmp_path,
        TITLE + "  attributes: {purity: {css: li.p::text, first: true}}\n"
        "  offers: {each: {xpath: '//tr'}, price: {css: td::text, first: true, currency: rub}}\n",
    )
    assert set(nested.fields) == {"title"}  # no price field: the first tier's price is the listing's
    assert nested.attributes["purity"].css == "li.p::text"
    assert nested.offers is not None and nested.offers.each.xpath == "//tr" and nested.offers.price.currency == "RUB"
    message = _refused(
        tmp_path, TITLE + "  price: {css: p, first: true}\n  attributes: {a: {css: b}}\nattributes: {a: {css: b}}\n"
    )
    assert "'attributes' is given both at the top level and under 'fields:'" in message


def test_profile_currency_and_rates_are_normalised(tmp_path: Path) -> None:
    profile = _load(
        tmp_path,
        TITLE + "  price: {css: p, first: true}\ncurrency: rub\nusd_rates: {rub: {rate: 0.011, date: 2026-11-30}}\n",
    )
    assert profile.currency == "RUB"
    assert profile.usd_rates["RUB"].rate == 0.011 and profile.usd_rates["RUB"].date == date(2026, 11, 30)


def test_every_bundled_profile_still_loads() -> None:
    for path in sorted((Path(__file__).resolve().parents[2] / "crawlers" / "profiles").glob("*.yaml")):
        assert find_profile(str(path)).name == path.stem


PAGE = """<html><body>
<h1> Blue <b>Dream</b> </h1>
<dl><dt>Vendor</dt><dd> <a href="/u/greenleaf">greenleaf</a> </dd><dt>Category</dt><dd>Cannabis / Flower</dd></dl>
<p class="cost">0.006752 BTC ($413.43)</p>
<ul class="pay"><li>BTC</li><li>XMR</li></ul>
<span class="escrow">Escrow: multisig</span>
<p class="where">Moscow, Tverskoy district - magnet, buried</p>
<table class="tiers">
 <tr class="tier"><td class="q">0.5 g</td><td class="p">1 500</td></tr>
 <tr class="tier"><td class="q">1 g</td><td class="p">2 700 ₽</td></tr>
 <tr class="tier"><td class="q">call me</td><td class="p">ask</td></tr>
</table>
<ul class="specs"><li>Purity: 92%</li><li>Strain: Sativa</li><li>Strain: Indica</li></ul>
<script>var price = "1 BTC";</script>
</body></html>"""


def test_read_field_options() -> None:
    page = Selector(text=PAGE)
    assert read_field(page, FieldRule(css="h1 ::text")) == "Blue Dream"
    vendor = "//dt[normalize-space()='Vendor']/following-sibling::dd[1]//text()"
    assert read_field(page, FieldRule(xpath=vendor, first=True)) == "greenleaf"
    # regex: group 1 of each string, strings that do not match dropped (before first/many)
    assert read_field(page, FieldRule(css="ul.specs li::text", regex=r"Purity:\s*(\d+)%", first=True)) == "92"
    assert read_field(page, FieldRule(css="ul.specs li::text", regex=r"Strain: (\w+)", many=True)) == [
        "Sativa",
        "Indica",
    ]
    assert read_field(page, FieldRule(css="ul.specs li::text", regex=r"\d+%")) == "92%"  # no group: the match
    assert read_field(page, FieldRule(css="ul.specs li::text", regex=r"THC (\d+)")) is None
    assert read_field(page, FieldRule(css="ul.specs li::text", regex=r"Purity(?:: (x))?", many=True)) == []
    assert read_field(page, FieldRule(css="ul.pay li::text", many=True)) == ["BTC", "XMR"]
    assert read_field(page, FieldRule(css="p.where::text", regex=r"- (.*)", split=",")) == ["magnet", "buried"]
    assert read_field(page, None) is None


def _market(tmp_path: Path, body: str) -> SiteProfile:
    return _load(tmp_path, body)


def test_a_detail_page_fills_every_slot(tmp_path: Path) -> None:
    profile = _market(
        tmp_path,
        """fields:
  title: {css: "h1 ::text"}
  vendor: {xpath: "//dt[normalize-space()='Vendor']/following-sibling::dd[1]//text()", first: true}
  category: {xpath: "//dt[.='Category']/following-sibling::dd[1]/text()", first: true}
  price: {css: "p.cost::text", first: true, currency: EUR}
  payment: {css: "ul.pay li::text", many: true}
  escrow: {css: "span.escrow::text", first: true, regex: "Escrow: (.+)"}
  city: {css: "p.where::text", regex: "^([^,]+),"}
  district: {css: "p.where::text", regex: ", ([^-]+?) -"}
  drop_type: {css: "p.where::text", regex: "- (.*)", split: ","}
  text: {css: "body ::text"}
attributes:
  purity: {css: "ul.specs li::text", regex: "Purity: (.+)", first: true}
  strain: {css: "ul.specs li::text", regex: "Strain: (.+)", many: true}
  missing: {css: "li.none::text"}
offers:
  each: {css: "table.tiers tr.tier"}
  quantity: {css: "td.q::text", first: true}
  price: {css: "td.p::text", first: true, currency: RUB}
usd_rates: {RUB: {rate: 0.011, date: 2026-10-30}}
""",
    )
    rates = {**RATES, **profile_rates(profile)}
    detail = read_detail(Selector(text=PAGE), profile, rates)
    assert detail.title == "Blue Dream" and detail.vendor == "greenleaf"
    assert "var price" not in detail.text  # the page's script is never the listing's words
    # the symbol beside the number wins over the field's currency hint; the crypto kept beside it
    assert detail.price == Price(
        amount=413.43,
        currency="USD",
        usd=413.43,
        crypto_amount=0.006752,
        crypto_currency="BTC",
        usd_rate=1.0,
        rate_date=DAY,
    )
    assert (detail.category, detail.escrow, detail.payment) == ("Cannabis / Flower", "multisig", ["BTC", "XMR"])
    assert detail.location == Location(city="Moscow", district="Tverskoy district", drop_type="magnet, buried")
    rub = {"usd_rate": 0.011, "rate_date": date(2026, 10, 30)}
    assert detail.offers == [
        Offer(quantity=0.5, unit="g", price=Price(amount=1500.0, currency="RUB", usd=16.5, **rub)),
        Offer(quantity=1.0, unit="g", price=Price(amount=2700.0, currency="RUB", usd=29.7, **rub)),
    ]  # the tier without a price is no offer
    assert detail.quantity is not None and (detail.quantity.value, detail.quantity.unit) == (0.5, "g")
    assert detail.attributes == {"purity": "92%", "strain": ["Sativa", "Indica"]}
    listing = Listing.new("http://a.onion/x", source_kind="market", title=detail.title, **detail.listing_fields())
    assert Listing.model_validate_json(listing.model_dump_json()) == listing


def test_without_a_price_field_the_first_tier_is_the_price(tmp_path: Path) -> None:
    profile = _market(
        tmp_path,
        TITLE + "currency: RUB\noffers:\n  each: {xpath: \"//tr[@class='tier']\"}\n"
        "  quantity: {xpath: './td[1]/text()', first: true}\n  price: {xpath: './td[2]/text()', first: true}\n",
    )
    detail = read_detail(Selector(text=PAGE), profile, RATES)
    assert [(o.quantity, o.unit, o.price.amount, o.price.currency) for o in detail.offers] == [
        (0.5, "g", 1500.0, "RUB"),
        (1.0, "g", 2700.0, "RUB"),
    ]
    assert detail.price == detail.offers[0].price and detail.price.usd is None  # no RUB rate: no USD


def test_a_crypto_price_field_lands_beside_the_fiat_price(tmp_path: Path) -> None:
    page = Selector(text="<h1>T</h1><p class='cost'>€12.00 <small>(0.081000 XMR)</small></p>")
    both = _market(
        tmp_path,
        TITLE + "  price: {css: p.cost::text, first: true}\n  crypto_price: {css: p.cost small::text, first: true}\n",
    )
    price = read_detail(page, both, RATES).price
    assert price is not None
    assert (price.amount, price.currency, price.usd, price.crypto_amount, price.crypto_currency) == (
        12.0,
        "EUR",
        12.96,
        0.081,
        "XMR",
    )
    crypto_only = _market(
        tmp_path,
        TITLE + "  price: {css: p.none::text, first: true}\n  crypto_price: {css: p small::text, first: true}\n",
    )
    alone = read_detail(page, crypto_only, RATES).price
    assert alone is not None
    assert (alone.amount, alone.currency, alone.usd, alone.crypto_amount) == (0.081, "XMR", 12.96, 0.081)


def test_hostile_values_are_capped_on_the_listing(tmp_path: Path) -> None:
    huge = "x" * 100_000
    page = Selector(text=f"<h1>T</h1><p>$5</p><i>{huge}</i>" + "".join(f"<b>{i}{huge[:3000]}</b>" for i in range(200)))
    profile = _market(
        tmp_path,
        TITLE
        + "  price: {css: p::text, first: true}\n  category: {css: i::text}\n  payment: {css: b::text, many: true}\n"
        "attributes:\n  blob: {css: i::text}\n  many: {css: b::text, many: true}\n",
    )
    detail = read_detail(page, profile, RATES)
    listing = Listing.new("http://a.onion/x", source_kind="market", title=detail.title, **detail.listing_fields())
    assert listing.category is not None and len(listing.category) == 256
    assert len(listing.payment) == 50 and all(len(p) == 256 for p in listing.payment)
    blob, items = listing.attributes["blob"], listing.attributes["many"]
    assert isinstance(blob, str) and len(blob) == 2000
    assert isinstance(items, list) and len(items) == 50 and all(len(v) == 2000 for v in items)
