"""Every page of the analyst UI, filled with the showcase data (:mod:`api.showcase`), checked
by axe-core in a real Chromium: no serious or critical violation on any of them.

axe runs from a script tag that Playwright adds; the browser context bypasses the page's
Content-Security-Policy for that (the app's own CSP, which forbids every script, is unchanged)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, sync_playwright

from api.showcase import ERROR_PAGES, Showcase, pages, seed
from tests.api.axe_tool import FAILING_IMPACTS, axe_script, describe
from tests.api.testkit import ApiEnv

pytestmark = [pytest.mark.integration, pytest.mark.slow]

# the page names, known without seeding anything (the paths need the seeded ids)
PAGE_NAMES = ["login", *pages(Showcase("", "", "", "listing", "vendor", "market", "case", "market"))]


@pytest.fixture(scope="module")
def browser(chromium_options: dict) -> Iterator[Browser]:
    with sync_playwright() as pw:
        browser = pw.chromium.launch(**chromium_options)
        yield browser
        browser.close()


@pytest.fixture(scope="module")
def axe() -> str:
    return str(axe_script())  # fails (never skips) with the reason when axe-core cannot be installed


@pytest.fixture
def showcase(api_env: ApiEnv) -> Showcase:
    return seed(api_env.settings, api_env.store)


@pytest.mark.parametrize("name", PAGE_NAMES)
def test_page_has_no_serious_accessibility_violations(
    name: str, browser: Browser, axe: str, live_server: str, showcase: Showcase
) -> None:
    context = browser.new_context(base_url=live_server, bypass_csp=True)
    page = context.new_page()
    try:
        role, path = ("", "/login") if name == "login" else pages(showcase)[name]
        if role:
            key = {"analyst": showcase.analyst_key, "operator": showcase.operator_key, "admin": showcase.admin_key}
            page.goto("/login")
            page.fill("input[name=key]", key[role])
            page.click("button[type=submit]")
            page.wait_for_load_state()
        response = page.goto(path)
        assert response is not None and response.status == ERROR_PAGES.get(name, 200), page.inner_text("body")[:300]
        assert name == "login" or "/login" not in page.url  # the page itself, not the sign-in
        page.add_script_tag(path=axe)
        result = page.evaluate("axe.run(document, {resultTypes: ['violations']})")
        failing = [v for v in result["violations"] if v["impact"] in FAILING_IMPACTS]
        assert result["passes"], "axe checked no rule at all"
        assert not failing, f"{name} ({path}) fails axe:\n{describe(failing)}"
    finally:
        context.close()
