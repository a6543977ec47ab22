"""The search page's histogram and ships-from chart, the listing's change history, the vendor's
PGP flag and timeline, the landing defaults and the operator page, through the app (no browser:
the browser tests in ``test_browser_timeline.py`` walk the same pages in Chromium)."""

from __future__ import annotations

import re

from dragnet.documents import Contact, Listing, Price
from index.synthetic import make_listing
from tests.api.testkit import ApiEnv

OLD_KEY, NEW_KEY = (
    "AAAA BBBB CCCC DDDD EEEE FFFF 0000 1111 2222 3333",
    "9999 8888 7777 6666 5555 4444 3333 2222 1111 0000",
)


def changed_listing(api_env: ApiEnv) -> Listing:
    """A listing crawled twice: price €300.93 -> €361.18, Spain -> Germany, a new PGP key and a Wickr handle."""
    before = make_listing(
        900,
        vendor="keyswap",
        market="alpha",
        pgp=OLD_KEY,
        ships_from="ES",
        days=1,
        title="MDMA crystal 50g",
        text="premium mdma crystal shipped from Spain",
        price_usd=None,
    ).model_copy(update={"price": Price(amount=300.93, currency="EUR", usd=325.0)})
    after = make_listing(
        900,
        vendor="keyswap",
        market="alpha",
        pgp=NEW_KEY,
        ships_from="DE",
        days=4,
        title="MDMA crystal 50g",
        text="premium mdma crystal now shipped from Germany, contact on wickr",
        contacts=[Contact(kind="wickr", handle="keyswap_w")],
        price_usd=None,
    ).model_copy(update={"price": Price(amount=361.18, currency="EUR", usd=390.0)})
    api_env.store.upsert([before])
    api_env.store.upsert([after])
    api_env.store.refresh()
    return after


def test_listing_history_is_a_diff_and_the_vendor_is_flagged(api_env: ApiEnv) -> None:
    listing = changed_listing(api_env)
    client = api_env.client(api_env.analyst)
    page = client.get(f"/listings/{listing.id}").text
    assert '<del><span class="word">removed:</span> €300.93</del>' in page
    assert '<ins><span class="word">added:</span> €361.18</ins>' in page
    assert '<ins><span class="word">added:</span> wickr: keyswap_w</ins>' in page
    assert "new PGP key" in page and "99998888777766665555444433332222" in page.replace(" ", "")
    vendor = client.get("/vendor", params={"name": "keyswap", "market": "alpha"}).text
    assert 'id="pgp-changed"' in vendor and 'id="vendor-timeline"' in vendor
    flagged = client.get("/api/search", params={"pgp_changed": "true"}).json()
    assert [hit["listing"]["id"] for hit in flagged["hits"]] == [listing.id]


def test_search_histogram_matches_the_api(api_env: ApiEnv) -> None:
    client = api_env.client(api_env.analyst)
    page = client.get("/search", params={"q": "stealth", "interval": "week", "split": "market"}).text
    api = client.get("/api/histogram", params={"q": "stealth", "interval": "week", "split": "market"}).json()
    drawn = re.findall(r'<g class="bucket" data-start="([0-9-]+)" data-count="(\d+)"', page)
    assert [(d, int(c)) for d, c in drawn] == [(b["start"][:10], b["count"]) for b in api]
    assert 'id="ships-from-chart"' in page
    assert client.get("/search", params={"interval": "hour"}).status_code == 400


def test_landing_defaults_titles_and_chips(api_env: ApiEnv) -> None:
    post = make_listing(
        950,
        title="",
        text="anyone selling xanax bars near the station tonight dm me please quick",
        source_kind="social",
        market="chirp",
    )
    api_env.store.upsert([post])
    api_env.store.refresh()
    client = api_env.client(api_env.analyst)
    landing = client.get("/search").text
    assert 'data-filter="is_drug_sale"' in landing and "Verdict: drug sale" in landing
    assert "sorted by Score" in landing
    social = client.get("/search", params={"source_kind": "social", "price_min": "5"}).text
    assert "anyone selling xanax bars near the station tonight dm me…" in social
    assert "(no title)" not in social and "Price ≥ $5" in social and "price_min:" not in social
