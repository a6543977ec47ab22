"""Fixtures that start the real parts (Redis, OpenSearch, Elasticsearch, Chromium, the SOCKS5
proxy) on free loopback ports, once per test session, and stop them afterwards."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from dragnet.services.chromium import launch_options
from dragnet.services.elasticsearch_node import ElasticsearchNode
from dragnet.services.opensearch_node import OpenSearchNode
from dragnet.services.promtool import promtool_path
from dragnet.services.redis_server import RedisServer
from dragnet.services.socks_proxy import SocksProxy
from dragnet.settings import DragnetSettings, load_settings, use_settings

REPO_ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def _isolated_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[DragnetSettings]:
    """Every test gets its own data directory; caches (jars, models) stay shared and warm."""
    for key in list(os.environ):
        if key.startswith("DRAGNET_"):
            monkeypatch.delenv(key)
    monkeypatch.setenv("DRAGNET_ENV", "test")
    monkeypatch.setenv("DRAGNET_PATHS__DATA_DIR", str(tmp_path / "data"))
    settings = load_settings()
    use_settings(settings)
    yield settings
    use_settings(None)


@pytest.fixture
def settings(_isolated_settings: DragnetSettings) -> DragnetSettings:
    return _isolated_settings


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    with RedisServer() as server:
        yield server


@pytest.fixture(scope="session")
def opensearch_node() -> Iterator[OpenSearchNode]:
    with OpenSearchNode() as node:
        yield node


@pytest.fixture(scope="session")
def elasticsearch_node() -> Iterator[ElasticsearchNode]:
    with ElasticsearchNode() as node:
        yield node


@pytest.fixture(scope="session")
def socks_proxy() -> Iterator[SocksProxy]:
    with SocksProxy() as proxy:
        yield proxy


@pytest.fixture(scope="session")
def promtool() -> str:
    """Debian's promtool (package ``prometheus``), installed like redis-server when missing;
    a test needing it fails with the reason where it cannot be installed."""
    return promtool_path()


@pytest.fixture(scope="session")
def chromium_options() -> dict:
    """Keyword arguments for ``playwright.chromium.launch`` using Debian's Chromium."""

    return launch_options()


def _cuda_available() -> bool:
    try:
        import torch  # noqa: PLC0415 - torch takes seconds to import: asked once, at collection

        return bool(torch.cuda.is_available())
    except Exception:  # noqa: BLE001 - a broken CUDA install means "no GPU here"
        return False


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if _cuda_available():
        return
    skip_gpu = pytest.mark.skip(reason="no CUDA device on this machine (GPU checks run on a lent GPU machine)")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip_gpu)


if TYPE_CHECKING:  # type names in fixture annotations only
    from dragnet.services.elasticsearch_node import ElasticsearchNode
    from dragnet.services.opensearch_node import OpenSearchNode
    from dragnet.services.redis_server import RedisServer
    from dragnet.services.socks_proxy import SocksProxy
