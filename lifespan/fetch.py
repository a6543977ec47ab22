"""HTTP GET through Tor's SOCKS5h proxy, keeping the reason a request failed.

A probe needs more than "it failed": Tor answers a CONNECT to an onion whose descriptor cannot be
found with SOCKS reply 0x04 (host unreachable) or, with extended errors, 0xF0; a refused or broken
circuit with other codes.  General HTTP clients fold these into one exception, so this module speaks
the few bytes of SOCKS5 itself (RFC 1928/1929, domain names resolved by the proxy) and plain
HTTP/1.1 over the socket with :mod:`http.client`, with a hard cap on the bytes read because the
page comes from a hostile site.
"""

from __future__ import annotations

import http.client
import socket
import struct
import time
from dataclasses import dataclass, field
from urllib.parse import unquote, urlsplit

from lifespan.models import DownKind

# Tor's SOCKS5 reply codes (RFC 1928 plus Tor's extended onion-service errors, tor's socks5.trunnel).
SOCKS_REPLIES: dict[int, tuple[DownKind, str]] = {
    0x01: (DownKind.CONNECTION_FAILED, "general SOCKS server failure"),
    0x02: (DownKind.CONNECTION_FAILED, "connection not allowed by ruleset"),
    0x03: (DownKind.CONNECTION_FAILED, "network unreachable"),
    0x04: (DownKind.DESCRIPTOR_NOT_FOUND, "host unreachable (onion descriptor not found)"),
    0x05: (DownKind.CONNECTION_FAILED, "connection refused"),
    0x06: (DownKind.TIMEOUT, "TTL expired"),
    0x07: (DownKind.CONNECTION_FAILED, "command not supported"),
    0x08: (DownKind.CONNECTION_FAILED, "address type not supported"),
    0xF0: (DownKind.DESCRIPTOR_NOT_FOUND, "onion service descriptor can not be found"),
    0xF1: (DownKind.DESCRIPTOR_NOT_FOUND, "onion service descriptor is invalid"),
    0xF2: (DownKind.CONNECTION_FAILED, "onion service introduction failed"),
    0xF3: (DownKind.CONNECTION_FAILED, "onion service rendezvous failed"),
    0xF4: (DownKind.CONNECTION_FAILED, "onion service missing client authorization"),
    0xF5: (DownKind.CONNECTION_FAILED, "onion service wrong client authorization"),
    0xF6: (DownKind.DESCRIPTOR_NOT_FOUND, "onion service invalid address"),
    0xF7: (DownKind.TIMEOUT, "onion service introduction timed out"),
}


class FetchError(Exception):
    """A request that produced no HTTP response; ``kind`` says why in probe terms."""

    def __init__(self, kind: DownKind, message: str, socks_reply: int | None = None) -> None:
        super().__init__(message)
        self.kind = kind
        self.socks_reply = socks_reply


class ProxyUnavailable(ConnectionError):
    """Tor's SOCKS port itself cannot be reached: says nothing about the market, so a probe that
    meets it records nothing (and the Celery task retries) instead of marking every market down."""


@dataclass
class FetchResponse:
    url: str
    status: int
    headers: dict[str, str]
    body: bytes
    elapsed_s: float
    truncated: bool = False
    socks_credentials: str | None = None
    extra: dict[str, str] = field(default_factory=dict)

    def text(self) -> str:
        charset = "utf-8"
        ctype = self.headers.get("content-type", "")
        if "charset=" in ctype:
            charset = ctype.split("charset=", 1)[1].split(";")[0].strip() or "utf-8"
        try:
            return self.body.decode(charset, "replace")
        except LookupError:
            return self.body.decode("utf-8", "replace")


def _recv_exact(sock: socket.socket, n: int) -> bytes:
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            raise FetchError(DownKind.CONNECTION_FAILED, "SOCKS proxy closed the connection")
        data += chunk
    return data


def socks5_connect(
    proxy_url: str, host: str, port: int, timeout: float, credentials: tuple[str, str] | None = None
) -> socket.socket:
    """Open a TCP stream to ``host:port`` through a SOCKS5 proxy that resolves names (socks5h).

    ``credentials`` isolate streams: Tor puts distinct SOCKS credentials on distinct circuits.
    """
    parts = urlsplit(proxy_url)
    if parts.scheme not in {"socks5h", "socks5"}:
        raise ValueError(f"unsupported proxy scheme {parts.scheme!r}; use socks5h://")
    if parts.username and credentials is None:
        credentials = (unquote(parts.username), unquote(parts.password or ""))
    try:
        sock = socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 9050), timeout=timeout)
    except OSError as exc:
        raise ProxyUnavailable(f"Tor SOCKS proxy {parts.hostname}:{parts.port} unreachable: {exc}") from None
    try:
        methods = b"\x02" if credentials else b"\x00"
        sock.sendall(b"\x05\x01" + methods)
        version, method = _recv_exact(sock, 2)
        if version != 5 or method == 0xFF:
            raise FetchError(DownKind.CONNECTION_FAILED, "SOCKS proxy refused our authentication methods")
        if method == 0x02:
            assert credentials is not None
            user, password = (c.encode("utf-8")[:255] for c in credentials)
            sock.sendall(b"\x01" + bytes([len(user)]) + user + bytes([len(password)]) + password)
            _v, status = _recv_exact(sock, 2)
            if status != 0:
                raise FetchError(DownKind.CONNECTION_FAILED, "SOCKS authentication failed")
        name = host.encode("idna")[:255]
        sock.sendall(b"\x05\x01\x00\x03" + bytes([len(name)]) + name + struct.pack("!H", port))
        _v, rep, _rsv, atyp = _recv_exact(sock, 4)
        if atyp == 0x01:
            _recv_exact(sock, 4 + 2)
        elif atyp == 0x04:
            _recv_exact(sock, 16 + 2)
        elif atyp == 0x03:
            (length,) = _recv_exact(sock, 1)
            _recv_exact(sock, length + 2)
        if rep != 0:
            kind, message = SOCKS_REPLIES.get(rep, (DownKind.CONNECTION_FAILED, f"SOCKS reply {rep:#x}"))
            raise FetchError(kind, f"{message} (SOCKS reply {rep:#04x})", socks_reply=rep)
        return sock
    except FetchError:
        sock.close()
        raise
    except TimeoutError:
        sock.close()
        raise FetchError(DownKind.TIMEOUT, "SOCKS handshake timed out") from None
    except OSError as exc:
        sock.close()
        raise FetchError(DownKind.CONNECTION_FAILED, f"SOCKS handshake failed: {exc}") from None


class _SocksHTTPConnection(http.client.HTTPConnection):
    def __init__(
        self, host: str, port: int, *, proxy_url: str, timeout: float, credentials: tuple[str, str] | None
    ) -> None:
        super().__init__(host, port, timeout=timeout)
        self._timeout_s = timeout
        self._proxy_url = proxy_url
        self._credentials = credentials

    def connect(self) -> None:
        self.sock = socks5_connect(self._proxy_url, self.host, self.port, self._timeout_s, self._credentials)


def http_get(
    url: str,
    *,
    proxy_url: str,
    timeout: float,
    max_bytes: int,
    user_agent: str,
    credentials: tuple[str, str] | None = None,
) -> FetchResponse:
    """GET ``url`` through the proxy.  Raises :class:`FetchError` when no response arrived.

    Redirects are not followed: a probe records what the address itself answers.  Only plain
    ``http`` is spoken: onion services authenticate by their address, not by TLS certificates.
    """
    parts = urlsplit(url)
    if parts.scheme != "http" or not parts.hostname:
        raise ValueError(f"probe URLs must be http://host/...; got {url!r}")
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    deadline_start = time.monotonic()
    conn = _SocksHTTPConnection(
        parts.hostname, parts.port or 80, proxy_url=proxy_url, timeout=timeout, credentials=credentials
    )
    try:
        conn.request(
            "GET", path, headers={"User-Agent": user_agent, "Accept": "text/html,*/*;q=0.8", "Connection": "close"}
        )
        response = conn.getresponse()
        body = b""
        truncated = False
        while True:
            if time.monotonic() - deadline_start > timeout:
                raise FetchError(DownKind.TIMEOUT, f"page not complete within {timeout:.1f}s")
            chunk = response.read(min(65536, max_bytes + 1 - len(body)))
            if not chunk:
                break
            body += chunk
            if len(body) > max_bytes:
                body = body[:max_bytes]
                truncated = True
                break
        return FetchResponse(
            url=url,
            status=response.status,
            headers={k.lower(): v for k, v in response.getheaders()},
            body=body,
            elapsed_s=time.monotonic() - deadline_start,
            truncated=truncated,
        )
    except (FetchError, ProxyUnavailable):
        raise
    except TimeoutError:
        raise FetchError(DownKind.TIMEOUT, f"no response within {timeout:.1f}s") from None
    except (http.client.HTTPException, OSError) as exc:
        raise FetchError(DownKind.CONNECTION_FAILED, f"{type(exc).__name__}: {exc}") from None
    finally:
        conn.close()
