"""Several OpenSearch nodes on loopback forming one cluster, for the tests that take a node away
while the pipeline writes (replica promotion, client fail-over).  Each member is an
:class:`OpenSearchNode` process of its own with a small heap; they find each other through
``discovery.seed_hosts`` (every member's transport port) and bootstrap the first time from
``cluster.initial_cluster_manager_nodes`` (every member's name)."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Self

import httpx

from dragnet.services.opensearch_node import OpenSearchNode
from dragnet.services.process import ServiceError, free_port


class ClusterMember(OpenSearchNode):
    """One cluster-manager-eligible data node of an :class:`OpenSearchCluster`."""

    def __init__(
        self, name: str, seeds: list[str], managers: list[str], workdir: Path, heap: str, transport_port: int
    ) -> None:
        super().__init__(workdir=workdir, heap=heap)
        self.transport_port = transport_port  # every member's is known before any starts: the seeds
        self.name = name
        self.seeds = seeds
        self.managers = managers

    def launcher_args(self) -> list[str]:
        return [self.name, ",".join(self.seeds), ",".join(self.managers)]


class OpenSearchCluster:
    """``size`` nodes named ``dragnet-0``.. on free loopback ports.  ``url`` lists every node's
    address, comma-separated (the form ``search.url`` takes for a cluster); :meth:`kill` crashes
    one member, :meth:`start_member` brings it back with its data."""

    def __init__(self, size: int = 2, heap: str = "448m", workdir: Path | None = None) -> None:
        if size < 1:
            raise ValueError("a cluster needs at least one node")
        self._tmp = None if workdir else tempfile.TemporaryDirectory(prefix="dragnet-opensearch-cluster-")
        root = workdir if workdir is not None else Path(self._tmp.name if self._tmp else ".")
        names = [f"dragnet-{n}" for n in range(size)]
        transport_ports = [free_port() for _ in names]
        seeds = [f"127.0.0.1:{port}" for port in transport_ports]
        self.members: list[ClusterMember] = []
        for name, transport in zip(names, transport_ports, strict=True):
            (root / name).mkdir(parents=True, exist_ok=True)
            self.members.append(ClusterMember(name, seeds, names, root / name, heap, transport))

    @property
    def urls(self) -> list[str]:
        return [member.url for member in self.members]

    @property
    def url(self) -> str:
        return ",".join(self.urls)

    def live_url(self) -> str:
        """The address of a member that is running (for requests a test makes itself)."""
        for member in self.members:
            if member.running:
                return member.url
        raise ServiceError("no member of the cluster is running")

    def start(self, timeout_s: float = 240.0) -> Self:
        for member in self.members:
            member.launch()
        try:
            for member in self.members:
                member.wait_ready(timeout_s)
            self.wait_nodes(len(self.members), timeout_s)
        except BaseException:
            self.close()
            raise
        return self

    def wait_nodes(self, count: int, timeout_s: float = 120.0) -> None:
        """Until the cluster counts ``count`` nodes and has an elected cluster manager."""
        deadline = time.monotonic() + timeout_s
        last = ""
        while time.monotonic() < deadline:
            try:
                params = {"wait_for_nodes": str(count), "timeout": "5s"}
                health = httpx.get(f"{self.live_url()}/_cluster/health", params=params, timeout=10)
                body = health.json()
                last = str(body)
                if health.status_code == 200 and body.get("number_of_nodes") == count:
                    return
            except (httpx.HTTPError, ValueError) as exc:
                last = str(exc)
            time.sleep(0.5)
        raise ServiceError(f"timed out after {timeout_s:.0f}s waiting for {count} OpenSearch nodes: {last}")

    def manager_name(self) -> str:
        """The node name of the elected cluster manager."""
        answer = httpx.get(f"{self.live_url()}/_cat/cluster_manager", params={"h": "node"}, timeout=10)
        answer.raise_for_status()
        return answer.text.strip()

    def member(self, name: str) -> ClusterMember:
        return next(member for member in self.members if member.name == name)

    def kill(self, name: str) -> None:
        """SIGKILL one member (its data directory stays for :meth:`start_member`)."""
        self.member(name).kill()

    def start_member(self, name: str, timeout_s: float = 180.0) -> None:
        self.member(name).start(timeout_s)
        self.wait_nodes(len(self.members), timeout_s)

    def close(self) -> None:
        for member in self.members:
            member.stop()
        for member in self.members:
            member.close()
        if self._tmp is not None:
            self._tmp.cleanup()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()
