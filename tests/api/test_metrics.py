"""``GET /metrics`` of the API process: operator keys only, Prometheus's own parser accepts it,
every known series is there at zero before any event, and requests are counted by route
template and status class (never by raw path)."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

from dragnet.services.promtool import check_metrics
from tests.api.testkit import ApiEnv


def _samples(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def _value(samples: dict, name: str, **labels: str) -> float | None:
    return samples.get((name, frozenset(labels.items())))


def test_metrics_need_an_operator_key(api_env: ApiEnv) -> None:
    assert api_env.client().get("/metrics").status_code == 401
    assert api_env.client(api_env.analyst).get("/metrics").status_code == 403
    assert api_env.client(api_env.platform).get("/metrics").status_code == 403
    assert api_env.client(api_env.admin).get("/metrics").status_code == 200
    bearer = api_env.client()
    bearer.headers["Authorization"] = f"Bearer {api_env.operator}"
    answer = bearer.get("/metrics")
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/plain; version=0.0.4")


def test_scrape_passes_promtool_and_starts_at_zero(api_env: ApiEnv, promtool: str) -> None:
    ops = api_env.client(api_env.operator)
    text = ops.get("/metrics").text
    checked = check_metrics(text)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    samples = _samples(text)
    # Known in advance, so present before anything happened (at zero in a fresh process; the
    # counters are the process's, so other tests in the same run may have counted already):
    # routes, scan, intake, feeds.
    assert _value(samples, "dragnet_api_requests_total", method="GET", route="/api/search", status="5xx") == 0
    for name, labels in (
        ("dragnet_api_scan_posts_total", {"outcome": "hit"}),
        ("dragnet_api_scan_refused_total", {"reason": "quota"}),
        ("dragnet_api_intake_posts_total", {"outcome": "backlogged"}),
    ):
        value = _value(samples, name, **labels)
        assert value is not None and value >= 0, (name, labels)
    for platform in ("reddit", "telegram"):
        assert (
            _value(samples, "dragnet_feed_deliveries_total", platform=platform, channel="webhook", outcome="failed")
            is not None
        )
        assert _value(samples, "dragnet_feed_transitions_total", platform=platform, status="removed") is not None


def test_requests_are_counted_by_template_and_status_class(api_env: ApiEnv) -> None:
    ops = api_env.client(api_env.operator)
    analyst = api_env.client(api_env.analyst)
    before = _samples(ops.get("/metrics").text)
    for path in ("/api/listings/nope-1", "/api/listings/nope-2", "/no/such/page/7"):
        analyst.get(path)
    analyst.get("/healthz")
    after = _samples(ops.get("/metrics").text)

    def grew(**labels: str) -> float:
        key = ("dragnet_api_requests_total", frozenset(labels.items()))
        return after.get(key, 0) - before.get(key, 0)

    assert grew(method="GET", route="/api/listings/{listing_id}", status="4xx") == 2
    assert grew(method="GET", route="unmatched", status="4xx") == 1
    assert grew(method="GET", route="/healthz", status="2xx") == 1
    assert not any("nope-1" in str(labels) for _, labels in after)  # raw paths never become labels


def test_metrics_route_is_declared_in_openapi(api_env: ApiEnv) -> None:
    spec = api_env.client().get("/openapi.json").json()
    get = spec["paths"]["/metrics"]["get"]
    assert "text/plain; version=0.0.4" in get["responses"]["200"]["content"]
    assert {"401", "403"} <= set(get["responses"])
    assert get.get("security")
