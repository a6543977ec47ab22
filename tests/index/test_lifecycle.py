"""Lifecycle policy of the monthly version indices (issue #21): ILM on Elasticsearch, ISM on
OpenSearch, created by ``ensure_schema`` and attached to new ``P-versions-YYYY.MM`` indices.

The session's nodes are assembled from Maven Central jars: the Elasticsearch node has no X-Pack
(ILM lives there) and the OpenSearch node no index-management plugin (ISM; not on Maven
Central).  On them the tests check what the store does then: it says so in the log, creates no
policy, and the versions template and new monthly indices carry no lifecycle setting.  An engine
that has ILM/ISM (``--es-url`` an Elasticsearch with X-Pack) takes the other branch: the policy
exists, is attached to a new monthly index, and a second ``ensure_schema`` changes nothing."""

from __future__ import annotations

import logging
from typing import Any

import httpx
import pytest

from dragnet.settings import DragnetSettings
from index.backends.engine import EngineStore
from index.backends.engine.client import EngineClient
from index.backends.engine.mappings import ilm_policy, ism_policy, versions_lifecycle_phases
from index.factory import open_store
from index.synthetic import make_listing
from tests.index.conftest import store_settings


def test_phases_hot_warm_and_delete_only_when_retention_is_set() -> None:
    assert versions_lifecycle_phases(30, None) == [("hot", 0, "priority:100"), ("warm", 30, "priority:10")]
    assert versions_lifecycle_phases(30, 365) == [
        ("hot", 0, "priority:100"),
        ("warm", 30, "priority:10"),
        ("delete", 365, "delete"),
    ]
    assert versions_lifecycle_phases(30, 20) == [("hot", 0, "priority:100"), ("delete", 20, "delete")]
    ilm = ilm_policy(versions_lifecycle_phases(30, 365))
    assert ilm["phases"]["delete"] == {"min_age": "365d", "actions": {"delete": {}}}
    assert ilm["phases"]["warm"]["actions"] == {"set_priority": {"priority": 10}}
    assert "delete" not in ilm_policy(versions_lifecycle_phases(30, None))["phases"]  # kept forever
    assert ilm["_meta"]["fingerprint"] != ilm_policy(versions_lifecycle_phases(30, 366))["_meta"]["fingerprint"]
    ism = ism_policy(versions_lifecycle_phases(30, 365), "p-versions-*")
    assert [state["name"] for state in ism["states"]] == ["hot", "warm", "delete"]
    assert ism["states"][1]["transitions"] == [{"state_name": "delete", "conditions": {"min_index_age": "365d"}}]
    assert ism["ism_template"] == [{"index_patterns": ["p-versions-*"], "priority": 100}]


def _get(url: str, path: str) -> Any:
    response = httpx.get(url + path)
    assert response.status_code == 200, response.text
    return response.json()


def _engine_has_lifecycle(url: str, backend: str) -> bool:
    """Asked of the engine directly, not through the code under test."""
    if backend == "elasticsearch":
        response = httpx.get(url + "/_xpack")
        ilm = response.json().get("features", {}).get("ilm", {}) if response.status_code == 200 else {}
        return bool(ilm.get("available") and ilm.get("enabled"))
    return httpx.get(url + "/_plugins/_ism/policies").status_code == 200


@pytest.mark.integration
@pytest.mark.parametrize("backend", ["opensearch", "elasticsearch"])
def test_versions_lifecycle_on_the_real_engine(
    backend: str, settings: DragnetSettings, request: pytest.FixtureRequest, caplog: pytest.LogCaptureFixture
) -> None:
    url = (
        request.getfixturevalue("opensearch_node").url if backend == "opensearch" else request.getfixturevalue("es_url")
    )
    configured = store_settings(settings, backend, url)
    configured = configured.model_copy(
        update={"search": configured.search.model_copy(update={"versions_retention_days": 400})}
    )
    prefix = configured.search.index_prefix
    supported = _engine_has_lifecycle(url, backend)
    with caplog.at_level(logging.INFO, logger="index.backends.engine.store"):
        store = open_store(configured)
    assert isinstance(store, EngineStore)
    try:
        assert (store.client.lifecycle_support() is None) == supported
        template_before = _get(url, f"/_index_template/{prefix}-versions")
        listing = make_listing(1)
        store.upsert([listing])
        store.upsert([make_listing(1, title="changed title")])  # a change: the month's versions index
        store.refresh()
        index = f"{prefix}-versions-{listing.crawled_at:%Y.%m}"
        index_settings = _get(url, f"/{index}/_settings")[index]["settings"]["index"]
        template_settings = template_before["index_templates"][0]["index_template"]["template"]["settings"]
        if supported:
            policy_path = (
                f"/_ilm/policy/{prefix}-versions"
                if backend == "elasticsearch"
                else f"/_plugins/_ism/policies/{prefix}-versions"
            )
            policy = _get(url, policy_path)
            if backend == "elasticsearch":
                assert template_settings["index"]["lifecycle"]["name"] == f"{prefix}-versions"
                assert index_settings["lifecycle"]["name"] == f"{prefix}-versions"
                assert policy[f"{prefix}-versions"]["policy"]["phases"]["delete"]["min_age"] == "400d"
                version_before = policy[f"{prefix}-versions"]["version"]
            else:
                explained = _get(url, f"/_plugins/_ism/explain/{index}")[index]
                assert explained["index.plugins.index_state_management.policy_id"] == f"{prefix}-versions"
                version_before = policy["_seq_no"]
            store.ensure_schema()  # twice: nothing changes
            again = _get(url, policy_path)
            assert (again[f"{prefix}-versions"]["version"] if backend == "elasticsearch" else again["_seq_no"]) == (
                version_before
            )
        else:
            # said plainly in the log (a warning: a retention was configured and will not apply)
            lines = [r for r in caplog.records if "no lifecycle policy" in r.getMessage()]
            assert lines and lines[0].levelno == logging.WARNING
            assert "versions_retention_days is NOT applied" in lines[0].getMessage()
            assert "lifecycle" not in template_settings.get("index", {})
            assert "lifecycle" not in index_settings
            store.ensure_schema()
        # ensure_schema run again leaves the templates as they were
        assert _get(url, f"/_index_template/{prefix}-versions") == template_before
    finally:
        store.drop()
        store.close()


def test_a_stored_policy_is_recognised_by_its_fingerprint() -> None:
    """What ensure_schema compares to leave an unchanged policy alone (the engines' GET answers
    wrap the body Dragnet wrote: ILM ``{name: {version, policy}}``, ISM ``{_seq_no, policy}``)."""
    phases = versions_lifecycle_phases(30, None)
    ilm = ilm_policy(phases)
    stored_ilm = {"version": 3, "modified_date": "2025-01-01", "policy": ilm}
    assert EngineClient.policy_fingerprint("elasticsearch", stored_ilm) == ilm["_meta"]["fingerprint"]
    ism = ism_policy(phases, "p-versions-*")
    stored_ism = {"_seq_no": 4, "_primary_term": 1, "policy": {**ism, "policy_id": "p-versions", "schema_version": 21}}
    fingerprint = EngineClient.policy_fingerprint("opensearch", stored_ism)
    assert fingerprint and fingerprint in ism["description"]
    other = ism_policy(versions_lifecycle_phases(30, 90), "p-versions-*")
    assert EngineClient.policy_fingerprint("opensearch", {"policy": other}) != fingerprint
    assert EngineClient.policy_fingerprint("opensearch", {"policy": {"description": "made by hand"}}) is None
