"""The ``store`` fixture: the same contract tests run on the embedded backend, the real
OpenSearch node and the real Elasticsearch node (both started once per session), or the
Elasticsearch that ``--es-url`` (or ``DRAGNET_TEST_ES_URL``) names instead of the node."""

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
            help="an Elasticsearch 8/9 for the store contract tests instead of the session's own node "
            "(else DRAGNET_TEST_ES_URL)",
        )
    except ValueError:  # registered by another conftest already
        pass


@pytest.fixture(scope="session")
def es_url(request: pytest.FixtureRequest, pytestconfig: pytest.Config) -> str:
    """The Elasticsearch the ES variants run on: the one named by ``--es-url`` /
    ``DRAGNET_TEST_ES_URL`` / ``search.test_es_url``, else the session's own node (started
    only when an ES test asks for it)."""
    # Read once at session start, before the per-test settings isolation clears DRAGNET_*.
    # getoption with a default: the option is only registered when this conftest loads at start-up
    override = (
        pytestconfig.getoption("--es-url", None)
        or os.environ.get("DRAGNET_TEST_ES_URL")
        or load_settings().search.test_es_url
    )
    if override:
        return str(override)
    return str(request.getfixturevalue("elasticsearch_node").url)


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
def store(request: pytest.FixtureRequest, settings: DragnetSettings) -> Iterator[ListingStore]:
    backend = request.param
    if backend == "embedded":
        url = None
    elif backend == "opensearch":
        url = request.getfixturevalue("opensearch_node").url
    else:
        url = request.getfixturevalue("es_url")
    store = open_store(store_settings(settings, backend, url))
    try:
        yield store
    finally:
        drop = getattr(store, "drop", None)
        if drop is not None:
            drop()
        store.close()
