"""The Elasticsearch node assembled from Maven Central jars, and ``dragnet services up elasticsearch``."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

import dragnet.services.process as process
from dragnet.services.elasticsearch_node import ELASTICSEARCH_VERSION, ensure_elasticsearch_jars
from dragnet.services.harness import running_services
from dragnet.services.process import ServiceError


def test_missing_maven_is_a_clear_service_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(process.shutil, "which", lambda name: None)
    monkeypatch.setattr(process.os, "geteuid", lambda: 1000)  # not root: no apt-get attempt
    with pytest.raises(ServiceError, match="mvn is not installed"):
        ensure_elasticsearch_jars(tmp_path / "cache")


@pytest.mark.integration
def test_services_up_elasticsearch_serves_the_node_and_removes_its_data() -> None:
    with running_services(["elasticsearch"]) as env:
        url = env["DRAGNET_SEARCH__URL"]
        assert env["DRAGNET_SEARCH__BACKEND"] == "elasticsearch" and env["DRAGNET_TEST_ES_URL"] == url
        assert url.startswith("http://127.0.0.1:")
        root = httpx.get(url)
        assert root.headers["x-elastic-product"] == "Elasticsearch"
        assert root.json()["version"]["number"] == ELASTICSEARCH_VERSION
        settings = httpx.get(f"{url}/_nodes/settings").json()["nodes"]
        ((node,),) = [settings.values()]
        assert node["settings"]["discovery"]["type"] == "single-node"
        data = node["settings"]["path"]["data"]
        data_dir = Path(data[0] if isinstance(data, list) else data)
        assert data_dir.exists()
    assert not data_dir.exists()
    with pytest.raises(httpx.TransportError):
        httpx.get(url, timeout=2)
