"""The UI pages refuse query parameters they do not read, as the JSON API's strict routes do: a
misspelt filter must not show unfiltered results as if they were filtered."""

from __future__ import annotations

import pytest

from api import audit
from api.showcase import ERROR_PAGES, Showcase, pages, seed
from tests.api.testkit import ApiEnv


@pytest.fixture
def showcase(api_env: ApiEnv) -> Showcase:
    return seed(api_env.settings, api_env.store)


def _key(show: Showcase, role: str) -> str:
    return {"analyst": show.analyst_key, "operator": show.operator_key, "admin": show.admin_key}[role]


def test_every_page_refuses_an_unknown_parameter_with_a_400_page_naming_it(api_env: ApiEnv, showcase: Showcase) -> None:
    everything = [("", "/login?next=/search")] + [
        (role, path) for name, (role, path) in pages(showcase).items() if name not in ERROR_PAGES
    ]
    for role, path in everything:
        client = api_env.client(_key(showcase, role) if role else None)
        assert client.get(path).status_code == 200, path  # what the page reads is accepted
        answer = client.get(path + ("&" if "?" in path else "?") + "zz_typo=1&zz_other=")
        assert answer.status_code == 400, path
        assert answer.headers["content-type"].startswith("text/html"), path
        assert "unknown query parameter(s) &#39;zz_other&#39;, &#39;zz_typo&#39;" in answer.text, path


def test_a_misspelt_search_filter_is_refused_before_anything_is_searched(api_env: ApiEnv) -> None:
    client = api_env.client(api_env.analyst)
    answer = client.get("/search", params={"q": "oxycodone", "markt": "alpha"})
    assert answer.status_code == 400
    assert "unknown query parameter(s) &#39;markt&#39;" in answer.text
    assert 'name="q" value="oxycodone"' in answer.text  # refused beside the search box, to be corrected
    assert 'id="total"' not in answer.text  # nothing was searched
    audited = audit.search_audit(action="search", settings=api_env.settings)
    assert [entry.query.endswith("[refused]") for entry in audited] == [True]
    # the page's own parameters, the histogram's and the page token's included, are accepted
    fine = client.get("/search", params={"q": "oxycodone", "market": "alpha", "interval": "week", "split": "none"})
    assert fine.status_code == 200 and 'id="total"' in fine.text


def test_hostile_parameter_names_are_shown_escaped_and_cut(api_env: ApiEnv) -> None:
    answer = api_env.client(api_env.analyst).get("/vendor", params={"<script>alert(1)</script>" + "x" * 100: "1"})
    assert answer.status_code == 400
    assert "<script>" not in answer.text and "&lt;script&gt;alert(1)&lt;/script&gt;" in answer.text
    assert "x" * 41 not in answer.text  # each name is cut to 40 characters
    assert 'href="/saved"' in answer.text  # the signed-in navigation is still there
