"""The engine store against a real two-node OpenSearch cluster: given both nodes' addresses, the
client keeps writing when one node is killed in the middle of the writes (the connection it
held fails over to the other node, the bulk is sent again there) and every listing ends stored
exactly once.  The full pipeline under the same fault is tests/workers/test_cluster.py."""

from __future__ import annotations

import threading

import httpx
import pytest

from dragnet.services.opensearch_cluster import OpenSearchCluster
from dragnet.settings import DragnetSettings
from index.backends.engine.client import node_urls
from index.factory import open_store
from index.store import SearchQuery
from tests.workers.conftest import make_listings

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def test_node_urls_reads_one_url_or_a_comma_separated_cluster() -> None:
    assert node_urls("http://a:9200") == ["http://a:9200"]
    assert node_urls(" http://a:9200, http://b:9200 ,") == ["http://a:9200", "http://b:9200"]


def test_writes_fail_over_when_a_node_dies_mid_bulk(settings: DragnetSettings) -> None:
    with OpenSearchCluster(2, heap="384m") as cluster:
        search = settings.search.model_copy(
            update={"backend": "opensearch", "url": cluster.url, "shards": 2, "replicas": 1, "max_retries": 3}
        )
        store = open_store(settings.model_copy(update={"search": search}))
        try:
            alias = store.listings_alias  # type: ignore[attr-defined]
            health = httpx.get(
                f"{cluster.live_url()}/_cluster/health/{alias}",
                params={"wait_for_status": "green", "timeout": "60s"},
                timeout=70,
            ).json()
            assert health["status"] == "green", health  # a replica of each primary, before the kill
            victim = next(m.name for m in cluster.members if m.name != cluster.manager_name())
            listings = make_listings(600, "failover")
            for start in range(0, len(listings), 20):
                result = store.upsert(listings[start : start + 20])
                assert not result.failed, result.failed
                if start == 100:
                    # killed while the client still holds pooled connections to it: the next
                    # requests meet a dead socket or a refused connection
                    threading.Thread(target=cluster.kill, args=(victim,), daemon=True).start()
            assert not cluster.member(victim).running
            store.refresh()
            ids = [listing.id for listing in store.scan(SearchQuery(), batch_size=500)]
            assert len(ids) == len(set(ids)) == len(listings)
            assert set(ids) == {listing.id for listing in listings}
        finally:
            store.close()
