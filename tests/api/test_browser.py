"""The analyst UI in a real Chromium (Playwright) against the app under uvicorn: the analyst's
path through the UI, and hostile listing titles that must render as text and run nothing."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Page, sync_playwright

from index.synthetic import make_listing
from tests.api.entitykit import KEY_ONE, KEY_TWO, ONION, PHONE, WALLET, add_lions
from tests.api.testkit import XSS_TITLE, ApiEnv, WebhookReceiver

pytestmark = [pytest.mark.integration, pytest.mark.slow]

# Anything a hostile title managed to run would set this flag or open a dialog.
WATCH = "window.__pwned = undefined; window.__dialogs = 0;"


@pytest.fixture(scope="module")
def browser(chromium_options: dict) -> Iterator:
    with sync_playwright() as pw:
        browser = pw.chromium.launch(**chromium_options)
        yield browser
        browser.close()


@pytest.fixture
def page(browser, live_server: str, api_env: ApiEnv) -> Iterator[Page]:
    context = browser.new_context(base_url=live_server)
    page = context.new_page()
    dialogs: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    page.dialogs = dialogs  # type: ignore[attr-defined]
    page.goto("/search")
    assert "/login" in page.url  # not signed in yet
    page.fill("input[name=key]", api_env.analyst)
    page.click("button[type=submit]")
    page.wait_for_url("**/search")
    yield page
    context.close()


def _total(page: Page) -> int:
    return int(page.inner_text("#total"))


def test_search_facet_listing_vendor_and_saved_search_alert(
    page: Page, api_env: ApiEnv, webhook: WebhookReceiver
) -> None:
    page.fill("input[name=q]", "stealth")
    page.click(".searchbox button[type=submit]")
    page.wait_for_selector("li.hit")
    everything = _total(page)
    assert everything > 3
    assert page.locator("li.hit mark").count() > 0  # highlights
    # narrow by a facet
    page.click("section[data-facet=market] a[data-value=alpha]")
    page.wait_for_url("**market=alpha**")
    narrowed = _total(page)
    assert 0 < narrowed < everything
    assert page.locator("a.chip[data-filter=market]").inner_text().startswith("Market: alpha")
    markets = page.locator("section[data-facet=market] a").all_inner_texts()
    assert markets == ["alpha"]
    # open a listing (the one with a vendor alias on another market)
    target = make_listing(201, vendor="xss_vendor", market="alpha")
    page.goto("/search?market=alpha&vendor=xss_vendor")
    page.click(f"li.hit[data-id='{target.id}'] a.title")
    page.wait_for_selector("#content-sha")
    assert page.inner_text("#content-sha") == target.content_sha256
    assert "telegram: @tele_dealer" in page.inner_text("dl.facts")
    # open its vendor: the alias on bravo is linked through the shared Telegram handle
    page.click("#vendor-link")
    page.wait_for_selector("table.aliases")
    aliases = page.locator("tr.alias").all_inner_texts()
    assert any("xss_vendor" in a and "alpha" in a for a in aliases)
    assert any("other_name" in a and "bravo" in a for a in aliases)
    assert "contact:telegram:tele_dealer" in page.inner_text("ul.links")
    # save a search with a webhook and receive its alert
    page.goto("/search?q=oxycodone&market=alpha")
    page.fill("form.save input[name=name]", "alpha oxycodone watch")
    api_env.settings.feeds.webhook_allow_private = True  # the receiver is on loopback: the operator allows it
    page.fill("form.save input[name=webhook_url]", webhook.url)
    page.click("form.save button[type=submit]")
    page.wait_for_url("**/saved")
    row = page.locator("tr.saved-search")
    assert row.count() == 1 and "alpha oxycodone watch" in row.inner_text()
    fresh = make_listing(700, title="fresh oxycodone restock", market="alpha")
    api_env.store.upsert([fresh, make_listing(701, title="oxycodone elsewhere", market="charlie")])
    api_env.store.refresh()
    page.click("tr.saved-search button:has-text('Check now')")
    page.wait_for_selector("#check-result")
    assert "1 new - delivered" in page.inner_text("#check-result")
    payload = webhook.wait_for(1)[0]
    assert payload["saved_search"]["name"] == "alpha oxycodone watch"
    assert [item["id"] for item in payload["listings"]] == [fresh.id]


def test_hostile_titles_render_as_text_and_run_nothing(page: Page) -> None:
    page.add_init_script(WATCH)
    page.goto("/search?q=oxycodone&vendor=xss_vendor")
    page.wait_for_selector("li.hit")
    hostile = make_listing(200, title=XSS_TITLE, vendor="xss_vendor", market="alpha")
    link = page.locator(f"li.hit[data-id='{hostile.id}'] a.title")
    assert link.inner_text() == XSS_TITLE  # the markup is shown as text, highlight and all
    assert page.evaluate("window.__pwned") is None
    assert page.locator("li.hit script, li.hit img, li.hit iframe").count() == 0
    link.click()
    page.wait_for_selector("h1.listing-title")
    assert page.inner_text("h1.listing-title") == XSS_TITLE
    assert '<iframe src="http://evil.example"></iframe>' in page.inner_text("pre.scraped")
    assert page.locator("main script, main img, main iframe").count() == 0
    assert page.evaluate("window.__pwned") is None
    assert page.dialogs == []  # type: ignore[attr-defined]


def test_injection_in_the_query_box_is_refused_clearly(page: Page) -> None:
    page.fill("input[name=q]", '{"query": {"match_all": {}}}')
    page.click(".searchbox button[type=submit]")
    page.wait_for_selector("#query-error")
    assert "plain text" in page.inner_text("#query-error")
    page.fill("input[name=q]", "title:* OR _exists_:vendor")
    page.click(".searchbox button[type=submit]")
    page.wait_for_load_state()
    assert page.locator("#query-error").count() == 0 or "no words" in page.inner_text("#query-error")


def test_platform_key_cannot_open_the_search_page(browser, live_server: str, api_env: ApiEnv) -> None:
    context = browser.new_context(base_url=live_server)
    page = context.new_page()
    page.goto("/login")
    page.fill("input[name=key]", api_env.platform)
    page.click("button[type=submit]")
    page.wait_for_load_state()
    assert "may not open this page" in page.inner_text("main")
    response = page.goto("/search?q=oxycodone")
    assert response is not None and response.status == 403
    context.close()


def _search_ids(page: Page, q: str) -> set[str]:
    page.goto("/search")
    page.fill("input[name=q]", q)
    page.click(".searchbox button[type=submit]")
    page.wait_for_selector("#total")
    return {str(page.locator("li.hit").nth(i).get_attribute("data-id")) for i in range(page.locator("li.hit").count())}


def test_entity_search_and_pivot_from_a_pgp_key_to_the_vendor_on_two_markets(page: Page, api_env: ApiEnv) -> None:
    one, two, three, post = (item.id for item in add_lions(api_env.store))
    # search by each entity kind, by field and in free text
    assert _search_ids(page, f'pgp:"{KEY_ONE.lower()}"') == {one, two}
    assert _search_ids(page, KEY_ONE) == {one, two}
    assert _search_ids(page, "contact:telegram:@Lion_Alpha") == {one, post}
    assert _search_ids(page, "lion_alpha") == {one, post}
    assert _search_ids(page, f"wallet:{WALLET}") == {one}
    assert _search_ids(page, f"onion:{ONION}") == {post}
    assert _search_ids(page, f'phone:"{PHONE}"') == {three}
    assert _search_ids(page, "vendor:lion market:charlie") == {three}
    assert _search_ids(page, 'title:"lion crystals"') == {three}
    page.fill("input[name=q]", "seller:lion")
    page.click(".searchbox button[type=submit]")
    page.wait_for_selector("#query-error")
    assert "known fields: vendor:, pgp:" in page.inner_text("#query-error")

    # the listing's PGP key is a link to its entity page
    page.goto(f"/listings/{one}")
    assert "telegram: @Lion_Alpha" in page.inner_text("dl.facts")
    for kind in ("vendor", "pgp", "contact", "wallet"):
        assert page.locator(f"dd.entities a.entity-link[data-kind={kind}]").count() == 1
    page.click("dd.entities a.entity-link[data-kind=pgp]")
    page.wait_for_selector("h1.entity-title")
    assert page.inner_text("#entity-value") == KEY_ONE.replace(" ", "")
    assert page.inner_text("#entity-total") == "2"
    assert page.locator("#entity-markets .market").all_inner_texts() == ["alpha (1)", "bravo (1)"]
    assert [v.split(" ")[2] for v in page.locator("li.entity-vendor").all_inner_texts()] == ["alpha", "bravo"]
    assert KEY_TWO.replace(" ", "") not in page.inner_text("main")  # the other Lion's key is not beside it
    # on to the vendor on the other market: one identity over two markets, the same-name Lion apart
    page.click("li.entity-vendor[data-market=bravo] a")
    page.wait_for_selector("svg.identity-graph")
    groups = page.locator("li.identity-group").all_inner_texts()
    assert "Lion@alpha" in groups[0] and "Lion@bravo" in groups[0] and "Lion@charlie" not in groups[0]
    assert any(g.strip() == "Lion@charlie" for g in groups[1:])
    assert "shares PGP 7A1B2C3D… on 2 listings" in page.inner_text("ul.identity-links")
    same_name = page.locator("li.identity-link[data-kind=same_name]")
    assert same_name.count() >= 1 and "same name only" in same_name.first.inner_text()
    assert page.locator("svg.identity-graph g.edge[data-kind=pgp]").count() == 1
    assert page.locator("svg.identity-graph g.edge[data-kind=same_name] line[stroke-dasharray]").count() >= 1
    # an analyst merges the same-name Lion, then undoes it
    form = page.locator("li.identity-link[data-kind=same_name] form.merge").first
    form.locator("input[name=note]").fill("same stealth photos")
    form.locator("button[type=submit]").click()
    page.wait_for_selector("li.identity-link[data-kind=merge]")
    assert page.locator("li.identity-group").count() == 1
    page.locator("li.identity-link[data-kind=merge] form.unmerge button").click()
    page.wait_for_selector("li.identity-link[data-kind=same_name]")
    assert page.locator("li.identity-group").count() == 2
