"""Time and change in a real Chromium (Playwright), as a task-force analyst uses them: the
histogram over a search, a listing's change history, the vendor's PGP flag, the landing
defaults, untitled posts, and an operator signing in to the operator page."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page, sync_playwright

from index.synthetic import make_listing
from tests.api.test_timeline_pages import changed_listing
from tests.api.testkit import ApiEnv

pytestmark = [pytest.mark.integration, pytest.mark.slow]


@pytest.fixture(scope="module")
def browser(chromium_options: dict) -> Iterator[Browser]:
    with sync_playwright() as pw:
        browser = pw.chromium.launch(**chromium_options)
        yield browser
        browser.close()


def _sign_in(browser: Browser, live_server: str, key: str) -> Page:
    page = browser.new_context(base_url=live_server).new_page()
    page.goto("/login")
    page.fill("input[name=key]", key)
    page.click("button[type=submit]")
    page.wait_for_load_state()
    return page


@pytest.fixture
def analyst(browser: Browser, live_server: str, api_env: ApiEnv) -> Iterator[Page]:
    page = _sign_in(browser, live_server, api_env.analyst)
    yield page
    page.context.close()


def test_histogram_over_a_search_matches_the_api(analyst: Page, api_env: ApiEnv) -> None:
    analyst.goto("/search?q=stealth&split=market&interval=week")
    chart = analyst.locator("#search-histogram")
    assert (chart.locator("#search-histogram-title").text_content() or "").startswith("Listings per week by market")
    labelled_by = chart.locator("svg.histogram").get_attribute("aria-labelledby")
    assert labelled_by == "search-histogram-title search-histogram-desc"
    assert chart.locator(".y-axis text.tick").count() >= 2 and chart.locator(".x-axis text.tick").count() >= 1
    drawn = [
        (g.get_attribute("data-start"), int(g.get_attribute("data-count") or -1))
        for g in chart.locator("g.bucket").all()
    ]
    api = api_env.client(api_env.analyst).get(
        "/api/histogram", params={"q": "stealth", "interval": "week", "split": "market"}
    )
    assert drawn == [(b["start"][:10], b["count"]) for b in api.json()]
    assert sum(count for _, count in drawn) == int(analyst.inner_text("#total"))
    legend = chart.locator("figcaption.legend").inner_text()
    assert "alpha" in legend and "bravo" in legend  # stacked by market
    rows = chart.locator(".chart-table tbody tr td.count").all_text_contents()
    assert [int(r) for r in rows] == [count for _, count in drawn]  # the text alternative
    assert analyst.locator("#ships-from-chart g.bar").count() > 0


def test_listing_diff_highlights_price_and_new_pgp_key_and_vendor_is_flagged(analyst: Page, api_env: ApiEnv) -> None:
    listing = changed_listing(api_env)
    analyst.goto(f"/listings/{listing.id}")
    diff = analyst.locator("article.version-diff").first
    price = diff.locator("tr.change[data-field=Price]")
    assert price.locator("del").inner_text() == "removed: €300.93"
    assert price.locator("ins").inner_text() == "added: €361.18"
    assert diff.locator("tr.change[data-field='Ships from'] ins").inner_text() == "added: DE"
    pgp = diff.locator("tr.change[data-field='PGP keys']")
    assert "9999 8888".replace(" ", "") in pgp.locator("ins").inner_text()
    assert diff.locator("strong.pgp-changed").inner_text() == "new PGP key"
    assert "wickr: keyswap_w" in diff.locator("tr.change[data-field=Contacts] ins").inner_text()
    analyst.click("#vendor-link")
    analyst.wait_for_selector("table.aliases")
    assert "PGP key changed" in analyst.inner_text("#pgp-changed")
    assert analyst.locator("#vendor-timeline .y-axis text.tick").count() >= 2
    # the flag as a search filter
    analyst.goto("/search?q=")
    facet = analyst.locator("section[data-facet=pgp_changed] .count")
    assert facet.inner_text() == "1"  # the facet counts the flagged listings of this search
    analyst.click("#pgp-changed-filter")
    analyst.wait_for_url("**pgp_changed=true**")
    assert analyst.inner_text("#total") == "1"
    assert analyst.locator("a.chip[data-filter=pgp_changed]").inner_text().startswith("PGP key changed")


def test_empty_search_lands_on_sale_verdicts_by_score(analyst: Page) -> None:
    analyst.goto("/search")
    chip = analyst.locator("a.chip[data-filter=is_drug_sale]")
    assert chip.inner_text().startswith("Verdict: drug sale")
    verdicts = analyst.locator("li.hit .verdict").all_inner_texts()
    assert verdicts and all(v.startswith("drug sale") for v in verdicts)
    scores = [float(v.split()[-1]) for v in verdicts]
    assert scores == sorted(scores, reverse=True)
    # with words, relevance ranks (the select's default)
    analyst.fill("input[name=q]", "stealth")
    analyst.click(".searchbox button[type=submit]")
    analyst.wait_for_url("**q=stealth**")
    assert "sorted by Relevance" in analyst.inner_text("p.total")
    # removing the default filter shows every verdict
    analyst.goto("/search")
    analyst.click("a.chip[data-filter=is_drug_sale]")
    analyst.wait_for_load_state()
    assert analyst.locator("a.chip[data-filter=is_drug_sale]").count() == 0
    assert "not a sale" in " ".join(analyst.locator("li.hit .verdict").all_inner_texts()) or int(
        analyst.inner_text("#total")
    ) > len(verdicts)


def test_untitled_social_post_is_titled_by_its_first_words(analyst: Page, api_env: ApiEnv) -> None:
    post = make_listing(
        951,
        title="",
        text="selling pressed blues tonight in the usual spot, message for prices and stock",
        source_kind="social",
        market="chirp",
    )
    api_env.store.upsert([post])
    api_env.store.refresh()
    analyst.goto("/search?source_kind=social")
    title = analyst.locator(f"li.hit[data-id='{post.id}'] a.title").inner_text()
    assert title == "selling pressed blues tonight in the usual spot, message for…"
    assert "(no title)" not in analyst.inner_text("main")


def test_operator_signs_in_to_the_operator_page(browser: Browser, live_server: str, api_env: ApiEnv) -> None:
    page = _sign_in(browser, live_server, api_env.operator)
    assert page.url.endswith("/operator")
    assert page.inner_text("h1") == "Operations"
    assert "Not allowed" not in page.inner_text("main")
    crawls = page.locator("#crawl-status tr.crawl").all_inner_texts()
    assert any(row.startswith("alpha") for row in crawls)
    nav = page.locator("header nav a").all_inner_texts()
    assert "Operations" in nav and "Lifespan" in nav and "Search" not in nav
    page.click("header nav a:has-text('Lifespan')")
    page.wait_for_load_state()
    assert page.url.endswith("/lifespan")
    page.context.close()
