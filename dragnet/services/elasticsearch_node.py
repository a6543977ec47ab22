"""A real Elasticsearch 8 node assembled from Maven Central jars, like the OpenSearch node.

Elasticsearch publishes its server jar and the ``transport-netty4`` plugin (HTTP and transport)
on Maven Central, but not the distribution's other modules.  The launcher
(``elasticsearch/DragnetElasticsearch.java``) starts a ``Node`` with plugins loaded from the class
path, as the test framework's ``MockNode`` does, bound to loopback on the ports we choose, with
the two module features Dragnet needs re-registered from the same code paths: the ``english``
analyzer (analysis-common: Lucene's ``EnglishAnalyzer``, same defaults) and ``GET /`` (rest-root).
Security is not part of these jars (it is X-Pack), so the node speaks plain HTTP."""

from __future__ import annotations

import hashlib
import logging
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import httpx

from dragnet.services.process import ManagedProcess, ServiceError, free_port, require_binary
from dragnet.settings import get_settings

log = logging.getLogger(__name__)

ELASTICSEARCH_VERSION = "8.15.0"  # runs on Java 17 (the pom names the same version)
_RESOURCES = Path(__file__).with_name("elasticsearch")
_LAUNCHER = "DragnetElasticsearch.java"
_MAIN_CLASS = "org.elasticsearch.node.DragnetElasticsearch"
_GC_FLAGS = {"serial": "-XX:+UseSerialGC", "g1": "-XX:+UseG1GC", "parallel": "-XX:+UseParallelGC"}


def _default_cache() -> Path:
    return get_settings().paths.cache_dir / "elasticsearch"


def ensure_elasticsearch_jars(cache_dir: Path | None = None) -> Path:
    """Download (once) the server jars and compile the launcher; returns the class-path folder.

    Keyed by the pom and launcher contents, so a change to either rebuilds it (Maven's own
    ``~/.m2`` cache makes the rebuild cheap)."""
    cache_dir = cache_dir or _default_cache()
    pom = (_RESOURCES / "pom.xml").read_bytes()
    launcher = (_RESOURCES / _LAUNCHER).read_bytes()
    key = hashlib.sha256(pom + launcher).hexdigest()[:12]
    home = cache_dir / f"{ELASTICSEARCH_VERSION}-{key}"
    lib = home / "lib"
    done = home / ".complete"
    if done.exists():
        return lib
    mvn = require_binary("mvn", "maven")
    javac = require_binary("javac", "openjdk-17-jdk-headless")
    build = Path(tempfile.mkdtemp(prefix="dragnet-es-build-"))
    try:
        shutil.copy(_RESOURCES / "pom.xml", build / "pom.xml")
        shutil.rmtree(lib, ignore_errors=True)  # a half-copied folder from an interrupted run
        log.info("fetching Elasticsearch %s jars from Maven Central (once)", ELASTICSEARCH_VERSION)
        result = subprocess.run(
            [mvn, "-q", "-B", "dependency:copy-dependencies", f"-DoutputDirectory={lib}"],
            cwd=build,
            capture_output=True,
            text=True,
        )
        if result.returncode != 0:
            raise ServiceError(
                f"maven could not fetch Elasticsearch jars:\n{result.stdout[-2000:]}{result.stderr[-2000:]}"
            )
        classes = home / "classes"
        classes.mkdir(parents=True, exist_ok=True)
        result = subprocess.run(
            [javac, "-d", str(classes), "-cp", f"{lib}/*", str(_RESOURCES / _LAUNCHER)],
            capture_output=True,
            text=True,
        )
        if result.returncode != 0:
            raise ServiceError(f"cannot compile the Elasticsearch launcher:\n{result.stderr[-2000:]}")
        done.write_text(ELASTICSEARCH_VERSION)
        return lib
    finally:
        shutil.rmtree(build, ignore_errors=True)


class ElasticsearchNode:
    """One single-node Elasticsearch cluster on 127.0.0.1.  ``stop``/``start`` keep the data
    directory; ``close`` also removes it (when it was a temporary one)."""

    def __init__(
        self, port: int | None = None, workdir: Path | None = None, heap: str = "512m", gc: str = "serial"
    ) -> None:
        self.port = port or free_port()
        self.transport_port = free_port()
        self._tmp = None if workdir else tempfile.TemporaryDirectory(prefix="dragnet-elasticsearch-")
        self.workdir = workdir if workdir is not None else Path(self._tmp.name if self._tmp else ".")
        self.heap = heap
        if gc not in _GC_FLAGS:
            raise ValueError(f"gc must be one of {sorted(_GC_FLAGS)}, not {gc!r}")
        self.gc = gc
        self._process: ManagedProcess | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout_s: float = 180.0) -> ElasticsearchNode:
        lib = ensure_elasticsearch_jars()
        java = require_binary("java", "openjdk-17-jre-headless")
        argv = [
            java,
            f"-Xms{self.heap}",
            f"-Xmx{self.heap}",
            _GC_FLAGS[self.gc],
            "-Dlog4j2.formatMsgNoLookups=true",
            "-cp",
            f"{lib.parent / 'classes'}:{lib}/*",
            _MAIN_CLASS,
            str(self.workdir / "node"),
            str(self.port),
            str(self.transport_port),
        ]
        self._process = ManagedProcess("elasticsearch", argv, self.workdir / "elasticsearch.log")
        self._process.start()
        deadline = time.monotonic() + timeout_s
        while not self._ready():
            if time.monotonic() > deadline:
                self._process.stop()
                raise ServiceError(
                    f"timed out after {timeout_s:.0f}s waiting for Elasticsearch on port {self.port}\n"
                    f"{self._process.tail()}"
                )
            time.sleep(0.25)
        return self

    def _ready(self) -> bool:
        """Healthy now; an exited process is an error at once (not a wait until the timeout)."""
        if self._process is not None and not self._process.running:
            raise ServiceError(f"Elasticsearch exited:\n{self._process.tail()}")
        try:
            return self.healthy()
        except httpx.HTTPError:
            return False

    def healthy(self) -> bool:
        response = httpx.get(f"{self.url}/_cluster/health", timeout=2)
        return response.status_code == 200 and response.json().get("status") in {"green", "yellow"}

    def stop(self) -> None:
        if self._process is not None:
            self._process.stop(timeout_s=30)

    def close(self) -> None:
        self.stop()
        if self._tmp is not None:
            self._tmp.cleanup()

    def __enter__(self) -> ElasticsearchNode:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()
