"""SOCKS5h for Scrapy: a Twisted client endpoint and a download handler that uses it.

Scrapy speaks HTTP proxies only.  Tor speaks SOCKS5, and ``.onion`` names must be resolved by
Tor, never locally (``socks5h``: the name travels in the CONNECT request).  This module is the
smallest piece that plugs into Scrapy's own HTTP/1.1 handler: an endpoint that opens a TCP
connection to the proxy, does the RFC 1928/1929 handshake (username/password when given: Tor
puts streams with distinct credentials on distinct circuits, which is how we isolate markets),
then hands the connected transport to Twisted's HTTP client.  Persistent connections stay in
Scrapy's pool, keyed by target *and* credentials, so circuits are never shared by accident.

A request goes through the proxy when ``request.meta["socks_proxy"]`` holds a ``socks5h://``
URL (set by :class:`crawlers.middlewares.TorProxyMiddleware`); credentials come from
``request.meta["socks_auth"]`` as ``(user, password)``.

Any other request must carry ``request.meta["dragnet_pin"] = (host, address)``, set by
:class:`crawlers.middlewares.SafetyMiddleware` after it checked the address: the connection goes
to that address and the name is never resolved again (no DNS rebinding between check and
connect).  A direct request without a pin for its own host is refused (fail closed).
"""

from __future__ import annotations

import struct
from typing import Any
from urllib.parse import urlsplit

from scrapy.core.downloader.handlers.http11 import HTTP11DownloadHandler, _ScrapyAgent
from scrapy.exceptions import IgnoreRequest
from scrapy.http import Request, Response
from scrapy.utils._download_handlers import wrap_twisted_exceptions
from scrapy.utils.defer import maybe_deferred_to_future
from scrapy.utils.httpobj import urlparse_cached
from twisted.internet import defer, reactor
from twisted.internet.endpoints import TCP4ClientEndpoint, TCP6ClientEndpoint, wrapClientTLS
from twisted.internet.interfaces import IStreamClientEndpoint
from twisted.internet.protocol import Factory, Protocol
from twisted.web.client import Agent
from zope.interface import implementer

SOCKS_ERRORS = {
    1: "general SOCKS server failure",
    2: "connection not allowed by ruleset",
    3: "network unreachable",
    4: "host unreachable",
    5: "connection refused",
    6: "TTL expired",
    7: "command not supported",
    8: "address type not supported",
}


class SocksError(ConnectionError):
    """The SOCKS proxy refused the connection (the message carries the RFC 1928 reply)."""


class _SocksHandshake(Protocol):
    """Speaks SOCKS5 until the tunnel is up, then relays bytes to the wrapped protocol."""

    def __init__(
        self, host: str, port: int, auth: tuple[str, str] | None, wrapped: Factory, ready: defer.Deferred
    ) -> None:
        self.host, self.port, self.auth = host, port, auth
        self.wrapped_factory = wrapped
        self.ready = ready
        self.buffer = b""
        self.state = "method"
        self.inner: Any = None  # the wrapped protocol once the tunnel is up

    @property
    def wire(self) -> Any:
        """The TCP transport to the proxy (``Any``: Twisted declares it as a zope interface,
        which mypy does not read)."""
        return self.transport

    def connectionMade(self) -> None:
        methods = b"\x00\x02" if self.auth else b"\x00"
        self.wire.write(b"\x05" + bytes([len(methods)]) + methods)

    def _fail(self, message: str) -> None:
        self.state = "failed"
        self.wire.abortConnection()
        if not self.ready.called:
            self.ready.errback(SocksError(message))

    def _send_connect(self) -> None:
        name = self.host.encode("idna")
        if len(name) > 255:
            self._fail(f"host name too long: {self.host[:40]}...")
            return
        self.wire.write(b"\x05\x01\x00\x03" + bytes([len(name)]) + name + struct.pack("!H", self.port))
        self.state = "connect"

    def dataReceived(self, data: bytes) -> None:
        if self.state == "relay":
            assert self.inner is not None
            self.inner.dataReceived(data)
            return
        self.buffer += data
        if self.state == "method":
            if len(self.buffer) < 2:
                return
            version, method = self.buffer[0], self.buffer[1]
            self.buffer = self.buffer[2:]
            if version != 5:
                return self._fail("not a SOCKS5 proxy")
            if method == 0x02 and self.auth:
                user, password = (s.encode("utf-8")[:255] for s in self.auth)
                self.wire.write(b"\x01" + bytes([len(user)]) + user + bytes([len(password)]) + password)
                self.state = "auth"
            elif method == 0x00:
                self._send_connect()
            else:
                return self._fail("proxy accepts none of our authentication methods")
        if self.state == "auth":
            if len(self.buffer) < 2:
                return
            status = self.buffer[1]
            self.buffer = self.buffer[2:]
            if status != 0:
                return self._fail("proxy rejected the SOCKS credentials")
            self._send_connect()
        if self.state == "connect":
            if len(self.buffer) < 5:
                return
            rep, atyp = self.buffer[1], self.buffer[3]
            if rep != 0:
                return self._fail(f"SOCKS5 {SOCKS_ERRORS.get(rep, rep)} for {self.host}:{self.port}")
            length = {1: 4 + 4 + 2, 4: 4 + 16 + 2, 3: 4 + 1 + self.buffer[4] + 2}.get(atyp)
            if length is None:
                return self._fail("bad SOCKS5 reply")
            if len(self.buffer) < length:
                return
            rest = self.buffer[length:]
            self.buffer = b""
            self.state = "relay"
            self.inner = self.wrapped_factory.buildProtocol(self.wire.getPeer())
            self.inner.makeConnection(self.wire)
            self.ready.callback(self.inner)
            if rest:
                self.inner.dataReceived(rest)

    def connectionLost(self, reason: Any = None) -> None:
        if self.inner is not None:
            self.inner.connectionLost(reason)
        elif not self.ready.called:
            self.ready.errback(SocksError(f"proxy closed the connection during the handshake ({reason.value})"))


@implementer(IStreamClientEndpoint)
class SocksClientEndpoint:
    """Connects to ``host:port`` through the SOCKS5 proxy at ``proxy_host:proxy_port``."""

    def __init__(
        self,
        reactor: Any,
        proxy_host: str,
        proxy_port: int,
        host: str,
        port: int,
        auth: tuple[str, str] | None = None,
        timeout: float = 30,
    ) -> None:
        self.reactor = reactor
        self.proxy = TCP4ClientEndpoint(reactor, proxy_host, proxy_port, timeout=timeout)
        self.host, self.port, self.auth = host, port, auth

    def connect(self, protocolFactory: Factory) -> defer.Deferred:
        handshake: list[_SocksHandshake] = []

        def cancel(d: defer.Deferred) -> None:
            if handshake:
                handshake[0].wire.abortConnection()
            connecting.cancel()

        ready: defer.Deferred = defer.Deferred(cancel)

        def build(addr: Any) -> _SocksHandshake:
            protocol = _SocksHandshake(self.host, self.port, self.auth, protocolFactory, ready)
            handshake.append(protocol)
            return protocol

        factory = Factory.forProtocol(Protocol)
        factory.buildProtocol = build  # type: ignore[method-assign]  # the factory builds our handshake
        connecting = self.proxy.connect(factory)  # type: ignore[arg-type]  # a zope interface mypy cannot see
        connecting.addErrback(lambda failure: None if ready.called else ready.errback(failure))
        return ready


class _SocksEndpointFactory:
    def __init__(
        self, reactor: Any, proxy_url: str, auth: tuple[str, str] | None, timeout: float, context_factory: Any
    ) -> None:
        parts = urlsplit(proxy_url)
        if parts.scheme not in ("socks5h", "socks5"):
            raise ValueError(f"unsupported proxy scheme {parts.scheme!r} (want socks5h://)")
        self.reactor = reactor
        self.proxy_host = parts.hostname or "127.0.0.1"
        self.proxy_port = parts.port or 9050
        self.auth = auth
        self.timeout = timeout
        self.context_factory = context_factory

    def endpointForURI(self, uri: Any) -> Any:
        host = uri.host.decode("ascii") if isinstance(uri.host, bytes) else uri.host
        endpoint = SocksClientEndpoint(
            self.reactor, self.proxy_host, self.proxy_port, host, uri.port, self.auth, self.timeout
        )
        if uri.scheme == b"https":
            return wrapClientTLS(self.context_factory.creatorForNetloc(uri.host, uri.port), endpoint)  # type: ignore[arg-type]  # zope
        return endpoint


class SocksAgent(Agent):
    """A Twisted agent whose connections go through SOCKS5h; pooled per target and credentials."""

    _socks_key: tuple[Any, ...] = ()

    @classmethod
    def through(
        cls, reactor: Any, proxy_url: str, auth: tuple[str, str] | None, timeout: float, context_factory: Any, pool: Any
    ) -> SocksAgent:
        agent = cls.usingEndpointFactory(
            reactor, _SocksEndpointFactory(reactor, proxy_url, auth, timeout, context_factory), pool
        )
        agent._socks_key = (proxy_url, auth)
        return agent

    def _requestWithEndpoint(self, key, endpoint, method, parsedURI, headers, bodyProducer, requestPath):
        return super()._requestWithEndpoint(
            key + ("socks",) + self._socks_key, endpoint, method, parsedURI, headers, bodyProducer, requestPath
        )


class _PinnedEndpointFactory:
    """Endpoints to one checked address, whatever the URI's host says (TLS still names the host)."""

    def __init__(self, reactor: Any, address: str, timeout: float, context_factory: Any) -> None:
        self.reactor, self.address, self.timeout = reactor, address, timeout
        self.context_factory = context_factory

    def endpointForURI(self, uri: Any) -> Any:
        kind = TCP6ClientEndpoint if ":" in self.address else TCP4ClientEndpoint
        endpoint = kind(self.reactor, self.address, uri.port, timeout=self.timeout)
        if uri.scheme == b"https":
            return wrapClientTLS(self.context_factory.creatorForNetloc(uri.host, uri.port), endpoint)  # type: ignore[arg-type]  # zope
        return endpoint


class PinnedAgent(Agent):
    """A Twisted agent that connects to a pinned address; pooled per target *and* address."""

    _pin: str = ""

    @classmethod
    def to(cls, reactor: Any, address: str, timeout: float, context_factory: Any, pool: Any) -> PinnedAgent:
        agent = cls.usingEndpointFactory(
            reactor, _PinnedEndpointFactory(reactor, address, timeout, context_factory), pool
        )
        agent._pin = address
        return agent

    def _requestWithEndpoint(self, key, endpoint, method, parsedURI, headers, bodyProducer, requestPath):
        return super()._requestWithEndpoint(
            key + ("pinned", self._pin), endpoint, method, parsedURI, headers, bodyProducer, requestPath
        )


class _SocksScrapyAgent(_ScrapyAgent):
    def _get_agent(self, request: Request, timeout: float) -> Agent:
        proxy_url = request.meta.get("socks_proxy")
        if not proxy_url:
            pin = request.meta.get("dragnet_pin")
            host = (urlparse_cached(request).hostname or "").lower()
            if not pin or pin[0] != host or not pin[1]:
                raise IgnoreRequest(f"direct connection to {host!r} without a checked address refused")
            return PinnedAgent.to(reactor, pin[1], timeout, self._contextFactory, self._pool)

        auth = request.meta.get("socks_auth")
        return SocksAgent.through(
            reactor, proxy_url, tuple(auth) if auth else None, timeout, self._contextFactory, self._pool
        )


class SocksDownloadHandler(HTTP11DownloadHandler):
    """Scrapy's HTTP/1.1 handler, plus SOCKS5h for requests that carry ``meta["socks_proxy"]``."""

    async def download_request(self, request: Request) -> Response:
        agent = _SocksScrapyAgent(
            contextFactory=self._contextFactory,
            bindAddress=self._bind_address,
            pool=self._pool,
            maxsize=self._default_maxsize,
            warnsize=self._default_warnsize,
            fail_on_dataloss=self._fail_on_dataloss,
            crawler=self._crawler,
            tls_verbose_logging=self._tls_verbose_logging,
        )
        with wrap_twisted_exceptions():
            return await maybe_deferred_to_future(agent.download_request(request))
