"""A small SOCKS5 proxy that stands in for Tor in tests and the demo.

It speaks the part of RFC 1928/1929 that Tor clients use: CONNECT with a domain name
(``socks5h``: the proxy resolves, never the client), optional username/password (Tor uses
distinct credentials to isolate streams onto distinct circuits; we record them so tests can
check isolation).  ``.onion`` names resolve only through the map given to it; an unknown onion
is answered "host unreachable", as Tor answers a missing descriptor.  Anything but loopback is
refused, so a test can never leak traffic off the machine.
"""

from __future__ import annotations

import argparse
import asyncio
import ipaddress
import logging
import re
import struct
import threading
import time
from collections import Counter
from dataclasses import dataclass, field

log = logging.getLogger(__name__)

SOCKS_VERSION = 5
REP_SUCCEEDED = 0x00
REP_GENERAL_FAILURE = 0x01
REP_NOT_ALLOWED = 0x02
REP_HOST_UNREACHABLE = 0x04
REP_CONNECTION_REFUSED = 0x05
REP_COMMAND_NOT_SUPPORTED = 0x07
REP_ATYP_NOT_SUPPORTED = 0x08


# one or more DNS labels; ".onion" is added when missing (``shop`` and ``shop.onion`` are one name)
_ONION_NAME = re.compile(r"^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$")


def parse_map_entry(entry: str) -> tuple[str, tuple[str, int]]:
    """``NAME=HOST:PORT`` -> (``name.onion``, (host, port)), or ValueError with a one-line reason.

    The target must be a loopback address: the development proxy stands in for Tor on one
    machine, so a mapped name can never send a test's traffic off it."""

    name, sep, target = entry.partition("=")
    name = name.strip().lower().removesuffix(".")
    if not sep or not name or not target:
        raise ValueError(f"--map {entry!r}: expected NAME=HOST:PORT (e.g. shop=127.0.0.1:8080)")
    if not name.endswith(".onion"):
        name = f"{name}.onion"
    if not _ONION_NAME.match(name):
        raise ValueError(f"--map {entry!r}: {name!r} is not a host name (letters, digits, '-' and '.')")
    host, colon, port_text = target.strip().rpartition(":")
    host = host.strip("[]")
    if not colon or not host:
        raise ValueError(f"--map {entry!r}: the target needs HOST:PORT (e.g. 127.0.0.1:8080)")
    if not port_text.isdigit() or not 1 <= int(port_text) <= 65535:
        raise ValueError(f"--map {entry!r}: port {port_text!r} is not a number from 1 to 65535")
    if host.lower() == "localhost":
        host = "127.0.0.1"
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        raise ValueError(f"--map {entry!r}: the target host must be a loopback address, not {host!r}") from None
    if not address.is_loopback:
        raise ValueError(f"--map {entry!r}: {host} is not loopback; the development proxy never leaves this machine")
    return name, (str(address), int(port_text))


def parse_map(entries: list[str]) -> dict[str, tuple[str, int]]:
    """Every ``--map`` entry, refusing one name mapped to two targets."""
    onion_map: dict[str, tuple[str, int]] = {}
    for entry in entries:
        name, target = parse_map_entry(entry)
        if onion_map.get(name, target) != target:
            raise ValueError(f"--map {entry!r}: {name} is already mapped to {onion_map[name][0]}:{onion_map[name][1]}")
        onion_map[name] = target
    return onion_map


@dataclass
class ProxyStats:
    connections: int = 0
    refused: int = 0
    by_host: Counter[str] = field(default_factory=Counter)
    by_credentials: Counter[str] = field(default_factory=Counter)
    credentials_by_host: dict[str, set[str]] = field(default_factory=dict)


class SocksProxy:
    """Run with :meth:`start` (a background thread) or as a context manager."""

    def __init__(
        self, onion_map: dict[str, tuple[str, int]] | None = None, port: int = 0, allow_loopback: bool = True
    ) -> None:
        self._map: dict[str, tuple[str, int]] = {k.lower(): v for k, v in (onion_map or {}).items()}
        self._requested_port = port
        self.allow_loopback = allow_loopback
        self.stats = ProxyStats()
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: asyncio.base_events.Server | None = None
        self._thread: threading.Thread | None = None
        self.port = 0

    # -- the map ---------------------------------------------------------------------------
    def add(self, host: str, target: tuple[str, int]) -> None:
        with self._lock:
            self._map[host.lower()] = target

    def remove(self, host: str) -> None:
        with self._lock:
            self._map.pop(host.lower(), None)

    def mapping(self) -> dict[str, tuple[str, int]]:
        with self._lock:
            return dict(self._map)

    @property
    def url(self) -> str:
        return f"socks5h://127.0.0.1:{self.port}"

    # -- life cycle --------------------------------------------------------------------------
    def start(self) -> SocksProxy:
        ready = threading.Event()
        errors: list[BaseException] = []

        def run() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            try:
                self._server = loop.run_until_complete(
                    asyncio.start_server(self._handle, "127.0.0.1", self._requested_port, backlog=1024)
                )
                self.port = self._server.sockets[0].getsockname()[1]
            except BaseException as exc:  # noqa: BLE001 - reported to the starting thread
                errors.append(exc)
                ready.set()
                return
            ready.set()
            loop.run_forever()
            # connections still open at stop are cancelled and closed while the loop runs, not
            # left to close on a closed loop (a traceback at every shutdown with a client)
            pending = asyncio.all_tasks(loop)
            for task in pending:
                task.cancel()
            if pending:
                loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
            loop.run_until_complete(self._server.wait_closed()) if self._server else None
            loop.close()

        self._thread = threading.Thread(target=run, name="socks5-proxy", daemon=True)
        self._thread.start()
        ready.wait(10)
        if errors:
            raise errors[0]
        log.info("SOCKS5 proxy on 127.0.0.1:%s for %d onion names", self.port, len(self._map))
        return self

    def stop(self) -> None:
        loop = self._loop
        if loop is None or self._server is None:
            return
        server = self._server

        def shutdown() -> None:
            server.close()
            loop.stop()

        loop.call_soon_threadsafe(shutdown)
        if self._thread is not None:
            self._thread.join(10)
        self._loop = None
        self._server = None

    def __enter__(self) -> SocksProxy:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- protocol ----------------------------------------------------------------------------
    def _resolve(self, host: str) -> tuple[str, int] | None:
        with self._lock:
            return self._map.get(host.lower())

    def _target_for(self, host: str, port: int) -> tuple[tuple[str, int] | None, int]:
        mapped = self._resolve(host)
        if mapped is not None:
            return mapped, REP_SUCCEEDED
        if host.lower().endswith(".onion"):
            return None, REP_HOST_UNREACHABLE
        if host.lower() == "localhost":
            host = "127.0.0.1"
        try:
            address = ipaddress.ip_address(host)
        except ValueError:
            return None, REP_NOT_ALLOWED  # clearnet names never leave this machine
        if self.allow_loopback and address.is_loopback:
            return (str(address), port), REP_SUCCEEDED
        return None, REP_NOT_ALLOWED

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await self._serve(reader, writer)
        except (TimeoutError, asyncio.IncompleteReadError, ConnectionError):
            pass
        except Exception:
            log.exception("SOCKS5 connection failed")
        finally:
            writer.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        version, nmethods = await asyncio.wait_for(reader.readexactly(2), 30)
        if version != SOCKS_VERSION:
            return
        methods = await reader.readexactly(nmethods)
        credentials = "-"
        if 0x02 in methods:
            writer.write(bytes([SOCKS_VERSION, 0x02]))
            await writer.drain()
            _ver, ulen = await reader.readexactly(2)
            user = (await reader.readexactly(ulen)).decode("utf-8", "replace")
            (plen,) = await reader.readexactly(1)
            password = (await reader.readexactly(plen)).decode("utf-8", "replace")
            credentials = f"{user}:{password}"
            writer.write(b"\x01\x00")
        elif 0x00 in methods:
            writer.write(bytes([SOCKS_VERSION, 0x00]))
        else:
            writer.write(bytes([SOCKS_VERSION, 0xFF]))
            await writer.drain()
            return
        await writer.drain()

        _ver, cmd, _rsv, atyp = await reader.readexactly(4)
        if atyp == 0x01:
            host = str(ipaddress.IPv4Address(await reader.readexactly(4)))
        elif atyp == 0x03:
            (length,) = await reader.readexactly(1)
            host = (await reader.readexactly(length)).decode("ascii", "replace")
        elif atyp == 0x04:
            host = str(ipaddress.IPv6Address(await reader.readexactly(16)))
        else:
            await self._reply(writer, REP_ATYP_NOT_SUPPORTED)
            return
        (port,) = struct.unpack("!H", await reader.readexactly(2))
        if cmd != 0x01:
            await self._reply(writer, REP_COMMAND_NOT_SUPPORTED)
            return

        target, rep = self._target_for(host, port)
        with self._lock:
            self.stats.connections += 1
            self.stats.by_host[host.lower()] += 1
            self.stats.by_credentials[credentials] += 1
            self.stats.credentials_by_host.setdefault(host.lower(), set()).add(credentials)
            if target is None:
                self.stats.refused += 1
        if target is None:
            await self._reply(writer, rep)
            return
        try:
            up_reader, up_writer = await asyncio.wait_for(asyncio.open_connection(*target), 10)
        except (TimeoutError, OSError):
            await self._reply(writer, REP_CONNECTION_REFUSED)
            return
        await self._reply(writer, REP_SUCCEEDED)
        try:
            await asyncio.gather(self._pipe(reader, up_writer), self._pipe(up_reader, writer))
        finally:
            up_writer.close()

    @staticmethod
    async def _reply(writer: asyncio.StreamWriter, rep: int) -> None:
        writer.write(bytes([SOCKS_VERSION, rep, 0x00, 0x01, 0, 0, 0, 0, 0, 0]))
        await writer.drain()

    @staticmethod
    async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                chunk = await reader.read(65536)
                if not chunk:
                    break
                writer.write(chunk)
                await writer.drain()
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            try:
                writer.write_eof()
            except (OSError, RuntimeError):
                writer.close()


def main(argv: list[str] | None = None) -> None:
    """``python -m dragnet.services.socks_proxy --port P --map name.onion=127.0.0.1:8080 ...``"""

    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--map", action="append", default=[], metavar="NAME=HOST:PORT")
    args = parser.parse_args(argv)
    try:
        onion_map = parse_map(args.map)
    except ValueError as exc:
        parser.exit(2, f"socks_proxy: {exc}\n")
    proxy = SocksProxy(onion_map, port=args.port).start()
    print(f"SOCKS5 proxy listening on {proxy.url}", flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        proxy.stop()


if __name__ == "__main__":
    main()
