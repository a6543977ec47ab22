"""The ``store`` fixture: the same contract tests run on the embedded backend, the real
OpenSearch node, and a real Elasticsearch when ``--es-url`` (or ``DRAGNET_TEST_ES_URL``) names one."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest

from dragnet.settings import DragnetSettings, load_settings
from index.factory import open_store
from index.store import ListingStore


def pytest_addoption(parser: pytest.Parser) -> None:
    try:
        parser.addoption(
            "--es-url",
            default=None,
            help="a real Elasticsearch 8/9 for the store contract tests (else DRAGNET_TEST_ES_URL)",
        )
    except ValueError:  # registered by another conftest already
        pass


@pytest.fixture(scope="session")
def es_url(pytestconfig: pytest.Config) -> str | None:
    # Read once at session start, before the per-test settings isolation clears DRAGNET_*.
    # getoption with a default: the option is only registered when this conftest loads at start-up
    # (session fixtures are set up before the per-test isolation clears DRAGNET_* variables)
    return (
        pytestconfig.getoption("--es-url", None)
        or os.environ.get("DRAGNET_TEST_ES_URL")
        or load_settings().search.test_es_url
        or None
    )


BACKENDS = [
    "embedded",
    pytest.param("opensearch", marks=pytest.mark.integration),
    pytest.param("elasticsearch", marks=pytest.mark.integration),
]


def store_settings(settings: DragnetSettings, backend: str, url: str | None) -> DragnetSettings:
    """Settings for one backend; engine tests get a unique index prefix so they never see
    each other's documents on the shared session node."""
    if backend == "embedded":
        return settings
    return settings.model_copy(
        update={
            "search": settings.search.model_copy(
                update={
                    "backend": backend if backend != "elasticsearch" else "auto",
                    "url": url,
                    "index_prefix": f"t{uuid.uuid4().hex[:10]}",
                }
            )
        }
    )


@pytest.fixture(params=BACKENDS)
def store(request: pytest.FixtureRequest, settings: DragnetSettings, es_url: str | None) -> Iterator[ListingStore]:
    backend = request.param
    if backend == "embedded":
        url = None
    elif backend == "opensearch":
        url = request.getfixturevalue("opensearch_node").url
    else:
        if not es_url:
            pytest.skip("no Elasticsearch here: pass --es-url or set DRAGNET_TEST_ES_URL to run these against one")
        url = es_url
    store = open_store(store_settings(settings, backend, url))
    try:
        yield store
    finally:
        drop = getattr(store, "drop", None)
        if drop is not None:
            drop()
        store.close()
