"""``GET /api/crawls`` and the page ``/operator/crawls``: each site's last crawl from the
crawl-runs file, for operator keys only, unknown parameters refused, hostile site names escaped."""

from __future__ import annotations

from crawlers.runlog import CrawlRun, append_run
from tests.api.testkit import ApiEnv

HOSTILE = "<script>alert(1)</script>shop"


def _record(env: ApiEnv) -> None:
    path = env.settings.paths.crawl_runs_file
    append_run(path, CrawlRun("alpha", 1000.0, 1600.0, 40, 30, 2, 0, "finished"))
    append_run(path, CrawlRun(HOSTILE, 2000.0, 2100.0, 3, 0, 5, 1, "finished"))
    append_run(path, CrawlRun("alpha", 5000.0, 5900.0, 12, 9, 0, 1, "shutdown"))
    with path.open("a", encoding="utf-8") as handle:
        handle.write('{"site": "broken", "pages": "many"}\nnot json\n')  # skipped, not fatal


def test_api_crawls_per_site_last_run(api_env: ApiEnv) -> None:
    _record(api_env)
    assert api_env.client().get("/api/crawls").status_code == 401
    assert api_env.client(api_env.analyst).get("/api/crawls").status_code == 403
    client = api_env.client(api_env.operator)
    answer = client.get("/api/crawls")
    assert answer.status_code == 200
    rows = answer.json()
    assert [row["site"] for row in rows] == ["alpha", HOSTILE]  # newest crawl first
    alpha = rows[0]
    assert (alpha["started_at"], alpha["ended_at"], alpha["pages"], alpha["listings"]) == (5000.0, 5900.0, 12, 9)
    assert (alpha["errors"], alpha["gate_pauses"], alpha["finish_reason"], alpha["runs"]) == (0, 1, "shutdown", 2)
    assert alpha["next_run_at"] is None
    refused = client.get("/api/crawls", params={"site": "alpha"})
    assert refused.status_code == 400 and "unknown query parameter(s) 'site'" in refused.json()["detail"]
    assert "/api/crawls" in client.get("/openapi.json").json()["paths"]


def test_crawls_page_escaped_and_linked_from_the_operator_page(api_env: ApiEnv) -> None:
    _record(api_env)
    assert api_env.client(api_env.analyst).get("/operator/crawls").status_code == 403
    client = api_env.client(api_env.operator)
    assert 'href="/operator/crawls"' in client.get("/operator").text
    page = client.get("/operator/crawls")
    assert page.status_code == 200
    assert "<script>alert" not in page.text and "&lt;script&gt;alert(1)&lt;/script&gt;shop" in page.text
    assert page.text.count('class="crawl-run"') == 2 and "1970-01-01 01:38" in page.text  # alpha ended 5900 s
    assert "not scheduled" in page.text


def test_no_crawl_recorded_yet(api_env: ApiEnv) -> None:
    client = api_env.client(api_env.operator)
    assert client.get("/api/crawls").json() == []
    assert "No crawl recorded yet." in client.get("/operator/crawls").text
