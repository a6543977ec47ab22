"""Debian's ``redis-server`` on a free loopback port, for the broker and the crawl frontier."""

from __future__ import annotations

import tempfile
from pathlib import Path

import redis

from dragnet.services.process import ManagedProcess, ServiceError, free_port, require_binary, wait_until


class RedisServer:
    """A throw-away Redis.  ``persistent=True`` turns on the append-only file (fsync always), so
    a restart mid-run loses no queued message - the way a production broker is configured."""

    def __init__(self, port: int | None = None, workdir: Path | None = None, persistent: bool = True) -> None:
        self.port = port or free_port()
        self._tmp = None if workdir else tempfile.TemporaryDirectory(prefix="dragnet-redis-")
        self.workdir = workdir if workdir is not None else Path(self._tmp.name if self._tmp else ".")
        self.persistent = persistent
        self._process: ManagedProcess | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> RedisServer:
        binary = require_binary("redis-server", "redis-server")
        argv = [
            binary,
            "--bind",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--dir",
            str(self.workdir),
            "--save",
            "",
            "--protected-mode",
            "yes",
            "--daemonize",
            "no",
        ]
        if self.persistent:
            argv += ["--appendonly", "yes", "--appendfsync", "always"]
        else:
            argv += ["--appendonly", "no"]
        self._process = ManagedProcess("redis", argv, self.workdir / "redis.log")
        self._process.start()
        try:
            wait_until(self.ping, 20, f"redis on port {self.port}")
        except ServiceError as exc:
            raise ServiceError(f"{exc}\n{self._process.tail()}") from None
        return self

    def ping(self) -> bool:
        return bool(redis.Redis.from_url(self.url, socket_timeout=1).ping())

    def stop(self) -> None:
        if self._process is not None:
            self._process.stop()

    def kill(self) -> None:
        if self._process is not None:
            self._process.kill()

    def restart(self) -> None:
        self.stop()
        self.start()

    def close(self) -> None:
        self.stop()
        if self._tmp is not None:
            self._tmp.cleanup()

    def __enter__(self) -> RedisServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()
