"""The search-engine backend: Elasticsearch 8/9 and OpenSearch 2/3 behind the listing store
contract, with one set of request bodies.  ``client`` (the two official clients behind one
adapter), ``mappings`` (index templates), ``query`` (search bodies), ``bulk`` (the NDJSON body,
cut by bytes), ``merge`` (the read-merge-write as pure steps) and ``store`` (the store)."""

from index.backends.engine.store import EngineStore

__all__ = ["EngineStore"]
