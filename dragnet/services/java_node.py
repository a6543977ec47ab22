"""What the OpenSearch and Elasticsearch nodes share: jars fetched once from Maven Central with
a small launcher compiled beside them, and a single-node cluster on 127.0.0.1 run as a managed
child process.  Each engine's module names its pom, launcher and main class."""

from __future__ import annotations

import hashlib
import logging
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Self

import httpx

from dragnet.services.process import ManagedProcess, ServiceError, free_port, require_binary

log = logging.getLogger(__name__)

GC_FLAGS = {"serial": "-XX:+UseSerialGC", "g1": "-XX:+UseG1GC", "parallel": "-XX:+UseParallelGC"}


def ensure_jars(title: str, version: str, resources: Path, launcher: str, cache_dir: Path) -> Path:
    """Download (once) the jars ``resources/pom.xml`` names and compile ``launcher`` against
    them; returns the class-path folder.

    Keyed by the pom and launcher contents, so a change to either rebuilds it (Maven's own
    ``~/.m2`` cache makes the rebuild cheap); ``.complete`` marks a finished build."""
    pom = (resources / "pom.xml").read_bytes()
    key = hashlib.sha256(pom + (resources / launcher).read_bytes()).hexdigest()[:12]
    home = cache_dir / f"{version}-{key}"
    lib = home / "lib"
    done = home / ".complete"
    if done.exists():
        return lib
    mvn = require_binary("mvn", "maven")
    javac = require_binary("javac", "openjdk-17-jdk-headless")
    build = Path(tempfile.mkdtemp(prefix="dragnet-java-build-"))
    try:
        shutil.copy(resources / "pom.xml", build / "pom.xml")
        shutil.rmtree(lib, ignore_errors=True)  # a half-copied folder from an interrupted run
        log.info("fetching %s %s jars from Maven Central (once)", title, version)
        result = subprocess.run(
            [mvn, "-q", "-B", "dependency:copy-dependencies", f"-DoutputDirectory={lib}"],
            cwd=build,
            capture_output=True,
            text=True,
        )
        if result.returncode != 0:
            raise ServiceError(f"maven could not fetch {title} jars:\n{result.stdout[-2000:]}{result.stderr[-2000:]}")
        classes = home / "classes"
        classes.mkdir(parents=True, exist_ok=True)
        result = subprocess.run(
            [javac, "-d", str(classes), "-cp", f"{lib}/*", str(resources / launcher)],
            capture_output=True,
            text=True,
        )
        if result.returncode != 0:
            raise ServiceError(f"cannot compile the {title} launcher:\n{result.stderr[-2000:]}")
        done.write_text(version)
        return lib
    finally:
        shutil.rmtree(build, ignore_errors=True)


class JavaNode:
    """One single-node cluster on 127.0.0.1.  ``stop``/``start`` keep the data directory, so a
    test can take the engine away and bring it back with its indices; ``close`` also removes it
    (when it was a temporary one).

    ``gc="serial"`` keeps a test node small and quick to start; ``"parallel"`` indexed 20-25%
    faster than G1 on 2 cores (no concurrent refinement threads competing with the indexing
    threads), so the benchmark uses it."""

    title = "search engine"
    main_class = ""
    default_heap = "512m"

    def __init__(
        self, port: int | None = None, workdir: Path | None = None, heap: str | None = None, gc: str = "serial"
    ) -> None:
        self.port = port or free_port()
        self.transport_port = free_port()
        prefix = f"dragnet-{self.title.lower()}-"
        self._tmp = None if workdir else tempfile.TemporaryDirectory(prefix=prefix)
        self.workdir = workdir if workdir is not None else Path(self._tmp.name if self._tmp else ".")
        self.heap = heap or self.default_heap
        if gc not in GC_FLAGS:
            raise ValueError(f"gc must be one of {sorted(GC_FLAGS)}, not {gc!r}")
        self.gc = gc
        self._process: ManagedProcess | None = None

    def jars(self) -> Path:
        """The class-path folder (built on first use)."""
        raise NotImplementedError

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def launcher_args(self) -> list[str]:
        """Arguments after the data path and the two ports (a cluster member names its peers)."""
        return []

    def launch(self) -> None:
        """Start the process without waiting for it: the members of a cluster are all launched
        before any of them can answer healthy."""
        lib = self.jars()
        java = require_binary("java", "openjdk-17-jre-headless")
        argv = [
            java,
            f"-Xms{self.heap}",
            f"-Xmx{self.heap}",
            GC_FLAGS[self.gc],
            "-Dlog4j2.formatMsgNoLookups=true",
            "-cp",
            f"{lib.parent / 'classes'}:{lib}/*",
            self.main_class,
            str(self.workdir / "node"),
            str(self.port),
            str(self.transport_port),
            *self.launcher_args(),
        ]
        name = self.title.lower()
        self._process = ManagedProcess(name, argv, self.workdir / f"{name}.log")
        self._process.start()

    def wait_ready(self, timeout_s: float = 180.0) -> None:
        deadline = time.monotonic() + timeout_s
        while not self._ready():
            if time.monotonic() > deadline:
                assert self._process is not None
                self._process.stop()
                raise ServiceError(
                    f"timed out after {timeout_s:.0f}s waiting for {self.title} on port {self.port}\n"
                    f"{self._process.tail()}"
                )
            time.sleep(0.25)

    def start(self, timeout_s: float = 180.0) -> Self:
        self.launch()
        self.wait_ready(timeout_s)
        return self

    def _ready(self) -> bool:
        """Healthy now; an exited process is an error at once (not a wait until the timeout)."""
        if self._process is not None and not self._process.running:
            raise ServiceError(f"{self.title} exited:\n{self._process.tail()}")
        try:
            return self.healthy()
        except httpx.HTTPError:
            return False

    def healthy(self) -> bool:
        response = httpx.get(f"{self.url}/_cluster/health", timeout=2)
        return response.status_code == 200 and response.json().get("status") in {"green", "yellow"}

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.running

    def stop(self) -> None:
        if self._process is not None:
            self._process.stop(timeout_s=30)

    def kill(self) -> None:
        """SIGKILL: a crash, not a shutdown (no goodbye to the other members of a cluster)."""
        if self._process is not None:
            self._process.kill()

    def close(self) -> None:
        self.stop()
        if self._tmp is not None:
            self._tmp.cleanup()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()
