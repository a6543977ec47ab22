"""A real Elasticsearch 8 node assembled from Maven Central jars, like the OpenSearch node.

Elasticsearch publishes its server jar and the ``transport-netty4`` plugin (HTTP and transport)
on Maven Central, but not the distribution's other modules.  The launcher
(``elasticsearch/DragnetElasticsearch.java``) starts a ``Node`` with plugins loaded from the class
path, as the test framework's ``MockNode`` does, bound to loopback on the ports we choose, with
the two module features Dragnet needs re-registered from the same code paths: the ``english``
analyzer (analysis-common: Lucene's ``EnglishAnalyzer``, same defaults) and ``GET /`` (rest-root).
Security is not part of these jars (it is X-Pack), so the node speaks plain HTTP."""

from __future__ import annotations

from pathlib import Path

from dragnet.services.java_node import JavaNode, ensure_jars
from dragnet.settings import get_settings

ELASTICSEARCH_VERSION = "8.15.0"  # runs on Java 17 (the pom names the same version)
_RESOURCES = Path(__file__).with_name("elasticsearch")


def ensure_elasticsearch_jars(cache_dir: Path | None = None) -> Path:
    """Download (once) the server jars and compile the launcher; returns the class-path folder."""
    cache_dir = cache_dir or get_settings().paths.cache_dir / "elasticsearch"
    return ensure_jars("Elasticsearch", ELASTICSEARCH_VERSION, _RESOURCES, "DragnetElasticsearch.java", cache_dir)


class ElasticsearchNode(JavaNode):
    """One single-node Elasticsearch cluster on 127.0.0.1 (see :class:`JavaNode`)."""

    title = "Elasticsearch"
    main_class = "org.elasticsearch.node.DragnetElasticsearch"
    default_heap = "512m"

    def jars(self) -> Path:
        return ensure_elasticsearch_jars()
