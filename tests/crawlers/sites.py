"""Small loopback web sites and listeners for the crawler's OPSEC and failure tests: each records
every request (or connection) it receives, so a test can assert that nothing arrived."""

from __future__ import annotations

import asyncio
import select
import socket
import threading
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class LoopbackSite:
    """An aiohttp site on ``host`` (a loopback address) in its own thread.  ``routes`` maps a
    path to a handler; any other path answers 200 with ``default``.  ``hits`` lists the paths
    requested, in order."""

    def __init__(
        self, routes: dict[str, Handler] | None = None, host: str = "127.0.0.1", port: int = 0, default: str = "ok"
    ) -> None:
        self.routes = routes or {}
        self.host, self.port, self.default = host, port, default
        self.hits: list[str] = []
        self.requests: list[web.Request] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    async def _dispatch(self, request: web.Request) -> web.StreamResponse:
        self.hits.append(request.path)
        self.requests.append(request)
        handler = self.routes.get(request.path)
        if handler is not None:
            return await handler(request)
        return web.Response(text=self.default, content_type="text/html")

    def start(self) -> LoopbackSite:
        ready = threading.Event()
        errors: list[BaseException] = []

        def run() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            app = web.Application()
            app.router.add_route("*", "/{tail:.*}", self._dispatch)
            runner = web.AppRunner(app, access_log=None, handle_signals=False)
            try:
                loop.run_until_complete(runner.setup())
                site = web.TCPSite(runner, self.host, self.port)
                loop.run_until_complete(site.start())
                self.port = int(runner.addresses[0][1])
            except BaseException as exc:  # noqa: BLE001 - reported to the starting thread
                errors.append(exc)
                ready.set()
                return
            ready.set()
            loop.run_forever()
            loop.run_until_complete(runner.cleanup())
            loop.close()

        self._thread = threading.Thread(target=run, daemon=True)
        self._thread.start()
        ready.wait(10)
        if errors:
            raise errors[0]
        return self

    def stop(self) -> None:
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
            if self._thread is not None:
                self._thread.join(10)
            self._loop = None

    def __enter__(self) -> LoopbackSite:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"


class PortWatch:
    """Listens on one loopback port for TCP *and* UDP and records whatever arrives there."""

    def __init__(self, host: str = "127.0.0.1") -> None:
        self.tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.tcp.bind((host, 0))
        self.tcp.listen(16)
        self.port = self.tcp.getsockname()[1]
        self.udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.udp.bind((host, self.port))
        self.arrivals: list[tuple[str, Any]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            readable, _, _ = select.select([self.tcp, self.udp], [], [], 0.1)
            for sock in readable:
                if sock is self.tcp:
                    conn, peer = self.tcp.accept()
                    conn.settimeout(1)
                    try:
                        first = conn.recv(512)
                    except OSError:
                        first = b""
                    self.arrivals.append(("tcp", (peer, first[:120])))
                    conn.close()
                else:
                    data, peer = self.udp.recvfrom(2048)
                    self.arrivals.append(("udp", (peer, data[:40])))

    def __enter__(self) -> PortWatch:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5)
        self.tcp.close()
        self.udp.close()
