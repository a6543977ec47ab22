"""The store contract, run on every backend (see conftest ``store``)."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from dragnet.documents import Contact, CryptoAddress, Location, Offer, Price
from index.store import ListingStore, QueryError, SearchQuery
from index.synthetic import BASE_TIME, corpus, make_listing


def _ids(result) -> list[str]:
    return [hit.listing.id for hit in result.hits]


def test_upsert_is_idempotent_and_get_returns_the_listing(store: ListingStore) -> None:
    listings = corpus(12)
    first = store.upsert(listings)
    assert (first.written, first.unchanged, first.failed) == (12, 0, [])
    again = store.upsert(listings[:5])
    assert (again.written, again.unchanged) == (0, 5)
    store.refresh()
    assert store.count() == 12
    got = store.get(listings[3].id)
    assert got is not None and got.title == listings[3].title and got.version == 1
    assert got.classification == listings[3].classification
    assert store.get("0" * 32) is None
    assert len(store.history(listings[3].id)) == 1


def test_what_markets_show_is_stored_and_read_back(store: ListingStore) -> None:
    """Escrow, payment, tiers, category, location, free attributes and the dated USD rate are
    stored and come back as written, from the current document and from its history."""
    day = date(2026, 11, 1)
    price = Price(
        amount=12.0, currency="EUR", usd=12.96, crypto_amount=0.081, crypto_currency="XMR", usd_rate=1.08, rate_date=day
    )
    tier = Price(amount=1500.0, currency="RUB", usd=16.5, usd_rate=0.011, rate_date=day)
    listing = make_listing(
        3,
        escrow="multisig",
        payment=["BTC", "XMR"],
        offers=[Offer(quantity=0.5, unit="g", price=tier), Offer(price=tier)],
        category="Cannabis / Flower",
        location=Location(city="Moscow", drop_type="magnet, buried"),
        attributes={"purity": "92%", "strain": ["Sativa", "Indica"]},
    ).model_copy(update={"price": price})
    assert store.upsert([listing]).written == 1
    store.refresh()
    shown = ("price", "escrow", "payment", "offers", "category", "location", "attributes")
    for got in (store.get(listing.id), store.history(listing.id)[-1]):
        assert got is not None
        assert {n: getattr(got, n) for n in shown} == {n: getattr(listing, n) for n in shown}


def test_new_content_version_keeps_history_and_first_seen(store: ListingStore) -> None:
    old = make_listing(1, days=0, text="first version of the listing")
    new = make_listing(1, days=5, text="second version now with discount")
    store.upsert([old])
    result = store.upsert([new])
    assert result.written == 1
    store.upsert([make_listing(1, days=3, text="first version of the listing")])  # a late re-crawl of v1
    store.refresh()
    current = store.get(old.id)
    assert current is not None
    assert current.text == "second version now with discount"  # the late older crawl did not win
    assert current.version == 2
    assert current.first_seen == BASE_TIME + timedelta(minutes=1)
    assert current.last_seen == BASE_TIME + timedelta(days=5, minutes=1)
    history = store.history(old.id)
    assert [v.text for v in history] == ["first version of the listing", "second version now with discount"]
    assert [v.version for v in history] == [1, 2]
    assert store.count() == 1


def test_full_text_stemming_phrases_exclusion_or_and_prefix(store: ListingStore) -> None:
    store.upsert(
        [
            make_listing(1, title="Pressed oxycodone pills", text="thirty milligram pills shipped in stealth"),
            make_listing(2, title="Colombian cocaine", text="pure flake, tested, stealth shipping"),
            make_listing(3, title="Kush buds", text="fresh harvest, discreet packaging"),
        ]
    )
    store.refresh()
    ids = {i: make_listing(i).id for i in (1, 2, 3)}
    assert _ids(store.search(SearchQuery(text="pill"))) == [ids[1]]  # stemming
    assert set(_ids(store.search(SearchQuery(text="stealth")))) == {ids[1], ids[2]}
    assert _ids(store.search(SearchQuery(text='"stealth shipping"'))) == [ids[2]]
    assert _ids(store.search(SearchQuery(text="stealth -cocaine"))) == [ids[1]]
    assert set(_ids(store.search(SearchQuery(text="kush OR cocaine")))) == {ids[2], ids[3]}
    assert _ids(store.search(SearchQuery(text="oxyc*"))) == [ids[1]]
    assert store.search(SearchQuery(text="stealth kush")).total == 0  # words are ANDed
    assert store.count(SearchQuery(text="stealth")) == 2


def test_highlights_escape_scraped_markup_then_mark(store: ListingStore) -> None:
    store.upsert(
        [
            make_listing(
                1,
                title='<script>alert("x")</script> xanax <img src=x onerror=alert(1)>',
                text="cheap xanax bars <b>bold</b>",
            )
        ]
    )
    store.refresh()
    hit = store.search(SearchQuery(text="xanax")).hits[0]
    title = " ".join(hit.highlights["title"])
    text = " ".join(hit.highlights["text"])
    assert "<mark>xanax</mark>" in title.lower() and "<mark>xanax</mark>" in text.lower()
    assert "<script" not in title and "<img" not in title and "<b>" not in text
    assert "&lt;script&gt;" in title and "&lt;img" in title and "&lt;b&gt;" in text


def test_filters(store: ListingStore) -> None:
    listings = corpus(60)
    store.upsert(listings)
    store.refresh()

    def expect(query: SearchQuery, predicate) -> None:
        wanted = {entry.id for entry in listings if predicate(entry)}
        got = {entry.id for entry in store.scan(query)}
        assert got == wanted and wanted, query
        assert store.count(query) == len(wanted)

    expect(SearchQuery(market=["alpha"]), lambda entry: entry.market == "alpha")
    expect(SearchQuery(market=["alpha", "bravo"]), lambda entry: entry.market in ("alpha", "bravo"))
    expect(SearchQuery(vendor=["vendor3"]), lambda entry: entry.vendor.name == "vendor3")
    expect(
        SearchQuery(substance=["cannabis"]),
        lambda entry: entry.classification.is_drug_sale and "cannabis" in entry.classification.substances,
    )
    expect(SearchQuery(ships_from=["NL"]), lambda entry: entry.ships_from == "NL")
    expect(SearchQuery(is_drug_sale=False), lambda entry: not entry.classification.is_drug_sale)
    expect(SearchQuery(min_score=0.9), lambda entry: entry.classification.score >= 0.9)
    expect(SearchQuery(price_usd_min=20, price_usd_max=40), lambda entry: 20 <= entry.price.usd <= 40)
    start, end = BASE_TIME + timedelta(days=10), BASE_TIME + timedelta(days=20)
    expect(SearchQuery(seen_from=start, seen_to=end), lambda entry: start <= entry.last_seen <= end)
    expect(
        SearchQuery(market=["bravo"], is_drug_sale=True, text="stealth"),
        lambda entry: (
            entry.market == "bravo" and entry.classification.is_drug_sale and "stealth" in (entry.title + entry.text)
        ),
    )
    expect(
        SearchQuery(ids=[listings[4].id, listings[9].id]), lambda entry: entry.id in (listings[4].id, listings[9].id)
    )


def test_facets_count_the_filtered_result(store: ListingStore) -> None:
    listings = corpus(30)
    store.upsert(listings)
    store.refresh()
    result = store.search(SearchQuery(market=["alpha"], size=0))
    alpha = [entry for entry in listings if entry.market == "alpha"]
    assert result.total == len(alpha)
    assert {b.value: b.count for b in result.facets["market"]} == {"alpha": len(alpha)}
    vendors: dict[str, int] = {}
    for entry in alpha:
        vendors[entry.vendor.name] = vendors.get(entry.vendor.name, 0) + 1
    assert {b.value: b.count for b in result.facets["vendor"]} == vendors
    drug = {"true": sum(entry.classification.is_drug_sale for entry in alpha)}
    drug["false"] = len(alpha) - drug["true"]
    assert {b.value: b.count for b in result.facets["is_drug_sale"]} == {k: v for k, v in drug.items() if v}
    substance_counts: dict[str, int] = {}
    for entry in alpha:
        for name in entry.classification.substances:
            substance_counts[name] = substance_counts.get(name, 0) + 1
    assert {b.value: b.count for b in result.facets["substance"]} == substance_counts


@pytest.mark.parametrize("sort", ["newest", "oldest", "price_asc", "price_desc", "score_desc", "relevance"])
def test_sorting_and_search_after_paging_cover_everything_once(store: ListingStore, sort: str) -> None:
    listings = corpus(45) + [make_listing(100, price_usd=None), make_listing(101, price_usd=None)]
    store.upsert(listings)
    store.refresh()
    text = "quality" if sort == "relevance" else ""
    wanted = {entry.id for entry in listings if not text or text in (entry.title + " " + entry.text)}
    seen: list[str] = []
    values: list = []
    after = None
    for _ in range(20):
        page = store.search(SearchQuery(text=text, sort=sort, size=7, search_after=after, facets=False))
        seen.extend(_ids(page))
        values.extend(page.hits)
        after = page.next_search_after
        if after is None:
            break
    assert len(seen) == len(set(seen)) and set(seen) == wanted
    by_id = {entry.id: entry for entry in listings}
    ordered = [by_id[i] for i in seen]
    if sort == "newest":
        assert [entry.last_seen for entry in ordered] == sorted((entry.last_seen for entry in ordered), reverse=True)
    elif sort == "oldest":
        assert [entry.last_seen for entry in ordered] == sorted(entry.last_seen for entry in ordered)
    elif sort in ("price_asc", "price_desc"):
        priced = [entry.price.usd for entry in ordered if entry.price]
        assert priced == sorted(priced, reverse=sort == "price_desc")
        assert all(entry.price is None for entry in ordered[len(priced) :])  # missing prices last
    elif sort == "score_desc":
        scores = [entry.classification.score for entry in ordered]
        assert scores == sorted(scores, reverse=True)
    else:
        scores = [hit.score for hit in values]
        assert scores == sorted(scores, reverse=True)


def test_intent_filter_and_facet(store: ListingStore) -> None:
    listings = [make_listing(i) for i in range(30)]
    store.upsert(listings)
    store.refresh()
    intents = {listing.id: listing.classification.intent for listing in listings}  # type: ignore[union-attr]
    buyers = {lid for lid, intent in intents.items() if intent == "buy"}
    assert buyers and {entry.id for entry in store.scan(SearchQuery(intent=["buy"]))} == buyers
    both = {lid for lid, intent in intents.items() if intent in ("buy", "sell")}
    assert len(both) > len(buyers) and {entry.id for entry in store.scan(SearchQuery(intent=["buy", "sell"]))} == both
    facet = {b.value: b.count for b in store.search(SearchQuery(size=0)).facets["intent"]}
    expected: dict[str, int] = {}
    for intent in intents.values():
        expected[str(intent)] = expected.get(str(intent), 0) + 1
    assert facet == expected


def test_date_histogram(store: ListingStore) -> None:
    listings = [make_listing(i, days=d) for i, d in enumerate([0, 0, 1, 3, 3, 3, 10, 40])]
    store.upsert(listings)
    store.refresh()
    days = store.date_histogram(SearchQuery(), "day")
    assert days[0].start == BASE_TIME and days[0].count == 2
    assert sum(b.count for b in days) == 8
    assert {b.start.day: b.count for b in days if b.count and b.start.month == 10} == {1: 2, 2: 1, 4: 3, 11: 1}
    assert len(days) == 41  # empty days included, first to last
    months = store.date_histogram(SearchQuery(), "month")
    assert [(b.start.month, b.count) for b in months] == [(10, 7), (11, 1)]
    weeks = store.date_histogram(SearchQuery(market=["alpha"]), "week")
    assert sum(b.count for b in weeks) == sum(entry.market == "alpha" for entry in listings)
    assert all(b.start.weekday() == 0 for b in weeks)


def test_identifier_filter_links_sellers(store: ListingStore) -> None:
    store.upsert(
        [
            make_listing(1, pgp="AAAA BBBB CCCC DDDD EEEE FFFF 0000 1111 2222 3333"),
            make_listing(2, contacts=[Contact(kind="telegram", handle="@Dealer_One")]),
            make_listing(3, crypto=[CryptoAddress(chain="btc", address="bc1qexampleexampleexample0")]),
            make_listing(4),
        ]
    )
    store.refresh()
    q = SearchQuery(identifiers=["pgp:AAAABBBBCCCCDDDDEEEEFFFF0000111122223333", "contact:telegram:dealer_one"])
    assert {entry.id for entry in store.scan(q)} == {make_listing(1).id, make_listing(2).id}


@pytest.mark.parametrize("text", ['{"query": {"match_all": {}}}', '[{"script": "x"}]', '{"bool": {"must": [ ]}'])
def test_engine_dsl_is_refused(store: ListingStore, text: str) -> None:
    store.upsert(corpus(5))
    store.refresh()
    with pytest.raises(QueryError, match="plain text"):
        store.search(SearchQuery(text=text))


@pytest.mark.parametrize(
    "text",
    [
        "*:*",
        "title:* OR _exists_:text",
        "/.*/",
        "cocaine~10^99",
        "text:[* TO *]",
        'a AND (b OR "c',
        "NEAR(a b)",
        "title : cocaine",
        "\\\\",
        "'; DROP TABLE listings; --",
    ],
)
def test_lucene_and_fts_syntax_abuse_is_searched_as_text(store: ListingStore, text: str) -> None:
    listings = corpus(10)
    store.upsert(listings)
    store.refresh()
    try:
        result = store.search(SearchQuery(text=text))
    except QueryError as exc:  # refused with a message for the analyst, never a crash
        assert "no words" in str(exc) or "unknown field text:" in str(exc)
    else:
        assert result.total < len(listings)  # searched as text: never "match everything"
    assert store.count() == len(listings)  # and nothing was dropped


def test_sizes_are_capped(store: ListingStore) -> None:
    big = make_listing(1, text="fentanyl " * 60_000)
    store.upsert([big])
    store.refresh()
    got = store.get(big.id)
    assert got is not None and len(got.text) <= 200_000
    assert store.search(SearchQuery(text="fentanyl")).total == 1


# ways scraped text hides a word from search (issue #16 item 12): each must still be found by the
# plain word, and typed into a query, each must find the plain word
EVASIONS = {
    "full-width": "ＥＳＣＲＯＷ",
    "combining acute": "esc\u0301row",
    "zero-width space": "esc\u200brow",
    "soft hyphen": "esc\u00adrow",
    "bidi override": "esc\u202erow\u202c",
    "word joiner and BOM": "es\u2060c\ufeffrow",
}


def test_search_evasion_forms_are_found_by_the_plain_word_and_back(store: ListingStore) -> None:
    plain = make_listing(0, title="escrow shop", text="plain words only")
    evasive = {
        name: make_listing(i, title=f"trusted {form} shop", text="ordinary description")
        for i, (name, form) in enumerate(EVASIONS.items(), start=1)
    }
    in_text = make_listing(20, title="another shop", text=f"we offer {EVASIONS['full-width']} for every order")
    ligature = make_listing(21, title="\ufb01nest crystal", text="ships worldwide")  # ﬁ, one character
    plain_fine = make_listing(22, title="finest crystal", text="ships worldwide")
    unrelated = make_listing(23, title="row of escalators", text="nothing to see")
    store.upsert([plain, *evasive.values(), in_text, ligature, plain_fine, unrelated])
    store.refresh()
    everyone = {plain.id, in_text.id} | {listing.id for listing in evasive.values()}

    assert set(_ids(store.search(SearchQuery(text="escrow", size=50)))) == everyone
    assert set(_ids(store.search(SearchQuery(text="Escrow", size=50)))) == everyone
    for name, form in EVASIONS.items():
        assert set(_ids(store.search(SearchQuery(text=form, size=50)))) == everyone, name
        assert set(_ids(store.search(SearchQuery(text=f'"{form} shop"', size=50)))) == {plain.id} | {
            listing.id for listing in evasive.values()
        }, name
    # the ligature both ways, and prefix, phrase and exclusion see through the forms too
    assert set(_ids(store.search(SearchQuery(text="finest")))) == {ligature.id, plain_fine.id}
    assert set(_ids(store.search(SearchQuery(text="\ufb01nest")))) == {ligature.id, plain_fine.id}
    assert set(_ids(store.search(SearchQuery(text="escr*", size=50)))) == everyone
    assert set(_ids(store.search(SearchQuery(text="shop -escrow", size=50)))) == set()
    assert _ids(store.search(SearchQuery(text="shop -ＥＳＣＲＯＷ -another", size=50))) == []
    assert store.count(SearchQuery(text="ＥＳＣＲＯＷ")) == len(everyone)
    # the stored listing is what was posted
    for name, form in EVASIONS.items():
        got = store.get(evasive[name].id)
        assert got is not None and got.title == f"trusted {form} shop", name


def test_highlights_of_folded_matches_show_the_posted_text(store: ListingStore) -> None:
    listings = {
        name: make_listing(i, title=f"trusted {form} shop", text=f"ordinary {form} description")
        for i, (name, form) in enumerate(EVASIONS.items(), start=1)
    }
    store.upsert(list(listings.values()))
    store.refresh()
    result = store.search(SearchQuery(text="escrow shop", size=50))
    assert {hit.listing.id for hit in result.hits} == {listing.id for listing in listings.values()}
    for hit in result.hits:
        (name,) = [n for n, listing in listings.items() if listing.id == hit.listing.id]
        title = " ".join(hit.highlights["title"])
        # what was posted, escaped, with the plain word marked; never the folded copy
        assert "<mark>shop</mark>" in title, (name, title)
        assert EVASIONS[name] in title.replace("<mark>", "").replace("</mark>", ""), (name, title)
        assert "text" not in hit.highlights or "escrow description" not in " ".join(hit.highlights["text"])
    # ordinary text keeps its highlights as before
    store.upsert([make_listing(40, title="Pressed Escrow pills", text="escrow accepted")])
    store.refresh()
    (hit,) = store.search(SearchQuery(text="pressed escrow")).hits
    assert "<mark>Pressed</mark> <mark>Escrow</mark>" in hit.highlights["title"][0]


def test_date_histogram_split_by_market_and_substance(store: ListingStore) -> None:
    listings = [
        make_listing(1, days=0, market="alpha", substance="opioids", drug=True),
        make_listing(2, days=0, market="alpha", substance="cannabis", drug=True),
        make_listing(3, days=0, market="bravo", substance="opioids", drug=True),
        make_listing(4, days=2, market="bravo", substance="opioids", drug=True),
        make_listing(5, days=2, market="bravo", drug=False),
    ]
    store.upsert(listings)
    store.refresh()
    by_market = store.date_histogram(SearchQuery(), "day", split="market")
    assert [(b.start.day, b.count, b.split) for b in by_market] == [
        (1, 3, {"alpha": 2, "bravo": 1}),
        (2, 0, {}),
        (3, 2, {"bravo": 2}),
    ]
    by_substance = store.date_histogram(SearchQuery(is_drug_sale=True), "week", split="substance")
    assert sum(b.count for b in by_substance) == 4
    merged: dict[str, int] = {}
    for bucket in by_substance:
        for name, number in bucket.split.items():
            merged[name] = merged.get(name, 0) + number
    assert merged == {"opioids": 3, "cannabis": 1}
    # the unsplit histogram is unchanged: counts only
    assert [b.split for b in store.date_histogram(SearchQuery(), "day")] == [{}, {}, {}]


def test_a_new_pgp_key_flags_the_listing_and_filters(store: ListingStore) -> None:
    old_key, new_key = "AAAA BBBB CCCC DDDD EEEE", "1111 2222 3333 4444 5555"
    store.upsert([make_listing(1, days=0, pgp=old_key), make_listing(2, days=0, pgp=old_key)])
    store.upsert(
        [
            make_listing(1, days=3, pgp=new_key, text="same listing, new key"),  # the key changed
            make_listing(2, days=3, pgp=old_key, text="same key, new text"),  # only the text changed
            make_listing(3, days=3, pgp=None),
        ]
    )
    store.refresh()
    changed, same, keyless = (store.get(make_listing(i).id) for i in (1, 2, 3))
    assert changed is not None and changed.pgp_changed
    assert same is not None and not same.pgp_changed and same.version == 2
    assert keyless is not None and not keyless.pgp_changed
    assert _ids(store.search(SearchQuery(pgp_changed=True))) == [changed.id]
    assert store.count(SearchQuery(pgp_changed=False)) == 2
    # the flag stays when a later version keeps the new key
    store.upsert([make_listing(1, days=5, pgp=new_key, text="again the new key")])
    store.refresh()
    assert store.count(SearchQuery(pgp_changed=True)) == 1


FPR = "1A2B 3C4D 5E6F 7A8B 9C0D 1E2F 3A4B 5C6D 7E8F 9A0B"
ONION = "a" * 16 + "b" * 40 + ".onion"


def _entity_corpus() -> list:
    return [
        make_listing(1, vendor="Green Lion", market="alpha", pgp=FPR, title="pressed pills", text="quality stealth"),
        make_listing(
            2,
            market="bravo",
            title="kush buds",
            text=f"mirror at {ONION} since 10:30, see https://pastebin/xyz",
            contacts=[
                Contact(kind="telegram", handle="@Lion_Shop"),
                Contact(kind="whatsapp", handle="+49 151 1234567"),
            ],
        ),
        make_listing(3, market="charlie", crypto=[CryptoAddress(chain="btc", address="BC1QEXAMPLEEXAMPLEEXAMPLE0")]),
        make_listing(4, vendor="lion", market="charlie", title="pure pills", text="nothing to see"),
    ]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # by field, in the spellings analysts paste
        ('vendor:"green lion"', {1}),
        ("vendor:GREEN", set()),  # a vendor is its whole name, not a word of it
        ("vendor:lion", {4}),
        (f'pgp:"{FPR.lower()}"', {1}),
        ("pgp:0x" + FPR.replace(" ", ""), {1}),
        ("pgp:" + FPR.replace(" ", "")[-16:], {1}),  # the long key id
        ("contact:telegram:@LION_SHOP", {2}),
        ("contact:tg:lion_shop", {2}),
        ("contact:@lion_shop", {2}),  # any platform
        ('contact:"telegram: @Lion_Shop"', {2}),
        ("wallet:bc1qexampleexampleexample0", {3}),
        (f"onion:{ONION.upper()}", {2}),
        (f"onion:http://{ONION}/path", {2}),
        ('phone:"+49 151 1234567"', {2}),
        ("market:Charlie", {3, 4}),
        ("market:charlie title:pills", {4}),
        ('title:"pressed pills"', {1}),
        ("title:stealth", set()),  # in the text only: title: searches titles
        ("vendor:lion pills", {4}),
        # free text finds entities the page did not spell out
        ("green lion", {1}),
        (FPR, {1}),
        (FPR.replace(" ", ""), {1}),
        ("lion_shop", {2}),
        ("bc1qexampleexampleexample0", {3}),
        # ordinary colons stay text
        ("10:30", {2}),
        ("https://pastebin/xyz", {2}),
    ],
)
def test_entities_by_field_and_free_text(store: ListingStore, text: str, expected: set[int]) -> None:
    listings = _entity_corpus()
    store.upsert(listings)
    store.refresh()
    ids = {hit.listing.id for hit in store.search(SearchQuery(text=text)).hits}
    assert ids == {listings[i - 1].id for i in expected}
    assert store.count(SearchQuery(text=text)) == len(expected)


def test_dead_drop_shops_by_category_city_district_and_drop_type(store: ListingStore) -> None:
    """What a dead-drop shop's profile reads (crawlers: category, location) is searchable by the
    field syntax on every backend, in the spellings the shop wrote (Cyrillic included)."""
    shop = [
        make_listing(
            1,
            market="steppe",
            title="Мефедрон кристалл",
            text="клад в районе",
            category="Стимуляторы",
            location=Location(city="Алматы", district="Медеуский", drop_type="магнит, прикоп"),
        ),
        make_listing(
            2, market="steppe", title="Шишки", text="клад", category="Каннабис", location=Location(city="Астана")
        ),
        make_listing(3, market="alpha", title="pills", text="shipped"),
    ]
    store.upsert(shop)
    store.refresh()

    def found(text: str) -> set[int]:
        return {
            shop.index(next(s for s in shop if s.id == hit.listing.id)) + 1
            for hit in store.search(SearchQuery(text=text)).hits
        }

    assert found("city:алматы") == {1}
    assert found('district:"Медеуский"') == {1}
    assert found("drop:прикоп") == found("drop:МАГНИТ") == {1}
    assert found("category:каннабис") == {2}
    assert found("market:steppe city:Астана") == {2}
    assert found("city:Москва") == set()


@pytest.mark.parametrize("text", ["seller:lion", "Handle:x pills", "vendr:lion"])
def test_unknown_field_is_refused_naming_the_known_fields(store: ListingStore, text: str) -> None:
    store.upsert(_entity_corpus())
    store.refresh()
    with pytest.raises(QueryError, match=r"unknown field .*known fields: vendor:, pgp:, contact:"):
        store.search(SearchQuery(text=text))


def test_bad_field_values_are_refused(store: ListingStore) -> None:
    with pytest.raises(QueryError, match="40 hex digits"):
        store.search(SearchQuery(text="pgp:1234"))
    with pytest.raises(QueryError, match="cannot be excluded"):
        store.search(SearchQuery(text="pills -vendor:lion"))


def test_entity_keys_filter_together_with_other_filters(store: ListingStore) -> None:
    listings = _entity_corpus()
    store.upsert(listings)
    store.refresh()
    both = SearchQuery(entities=["vendor:green lion", "market:alpha"])
    assert _ids(store.search(both)) == [listings[0].id]
    assert store.search(both.model_copy(update={"market": ["bravo"]})).total == 0
    buckets = store.date_histogram(SearchQuery(text="vendor:lion"), "day")
    assert sum(b.count for b in buckets) == 1
