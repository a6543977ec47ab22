"""Outbound webhooks (platform takedown feeds and analysts' saved-search alerts): one policy for
where Dragnet may connect, one signature scheme, and a connection that goes to the address that
was checked.

Why pinning: checking a host name when a webhook is registered and letting the HTTP client
resolve it again at delivery is a DNS-rebinding hole (the name answers a public address at
registration and ``127.0.0.1`` or a cloud metadata address a minute later).  Here every delivery
resolves the name once, refuses it unless every address is public (or private targets are
explicitly allowed), and the TCP connection is made to that very address, while TLS still
verifies the certificate for the name.

Signature (both kinds of webhook)::

    X-Dragnet-Timestamp: <unix seconds>
    X-Dragnet-Signature: v1=<hex HMAC-SHA256(secret, "<timestamp>." + body)>

While a rotated secret's overlap window lasts the header carries one signature per secret, the
new one first, comma-separated (``v1=<new>,v1=<old>``); a receiver accepts the request when any
of them verifies with the secret it holds.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import socket
import time
import typing
from dataclasses import dataclass
from urllib.parse import urlsplit

import httpcore
import httpx

SIGNATURE_HEADER = "X-Dragnet-Signature"
TIMESTAMP_HEADER = "X-Dragnet-Timestamp"


class WebhookURLError(ValueError):
    """A webhook URL Dragnet refuses to call (bad scheme, or a non-public address)."""


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """The signature header value for one request."""
    mac = hmac.new(secret.encode(), str(timestamp).encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"v1={mac}"


def verify_signature(
    secret: str, timestamp: str, body: bytes, signature: str, *, window_s: int, now: float | None = None
) -> bool:
    """For receivers: constant-time HMAC check plus the replay window (the receiver must also
    remember signatures it has accepted within the window)."""
    try:
        ts = int(timestamp)
    except ValueError:
        return False
    now = time.time() if now is None else now
    if abs(now - ts) > window_s:
        return False
    expected = sign(secret, ts, body)
    return any(hmac.compare_digest(expected, part.strip()) for part in signature.split(",")[:4])


def signed_headers(secret: str, body: bytes, *older: str) -> dict[str, str]:
    """Timestamp and signature headers; ``older``: secrets still in their rotation overlap, each
    adding its signature after the current one's."""
    ts = int(time.time())
    return {TIMESTAMP_HEADER: str(ts), SIGNATURE_HEADER: ",".join(sign(s, ts, body) for s in (secret, *older))}


@dataclass(frozen=True)
class Target:
    """A webhook URL and the one address a delivery to it will connect to."""

    url: str
    host: str
    port: int
    address: str


def check_url(url: str, *, allow_private: bool, https_only: bool = False) -> Target:
    """Parse and resolve ``url`` once; refuse it unless every address it resolves to is public
    (any IP notation: ``getaddrinfo`` reads them all), or ``allow_private`` is set."""
    parts = urlsplit(url.strip())
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise WebhookURLError("webhook URL must be http(s)://host/...")
    if https_only and parts.scheme != "https":
        raise WebhookURLError("webhook URL must use https")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        raise WebhookURLError("webhook URL has an invalid port") from None
    try:
        infos = socket.getaddrinfo(parts.hostname, port, proto=socket.IPPROTO_TCP)
    except (OSError, UnicodeError) as exc:
        raise WebhookURLError(f"cannot resolve {parts.hostname}: {exc}") from None
    addresses = [str(info[4][0]) for info in infos]
    if not addresses:
        raise WebhookURLError(f"{parts.hostname} resolves to nothing")
    if not allow_private:
        for address in addresses:
            if not ipaddress.ip_address(address.split("%", 1)[0]).is_global:
                raise WebhookURLError(f"{parts.hostname} resolves to a non-public address")
    return Target(url=url.strip(), host=parts.hostname, port=port, address=addresses[0])


class _PinnedBackend(httpcore.SyncBackend):
    """Connects to the checked address whatever host name the request carries."""

    def __init__(self, target: Target) -> None:
        self.target = target

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: typing.Iterable[typing.Any] | None = None,
    ) -> httpcore.NetworkStream:
        if host.strip("[]").lower() != self.target.host.strip("[]").lower() or port != self.target.port:
            raise httpcore.ConnectError(f"refusing a connection to {host}:{port}: not the checked webhook target")
        return super().connect_tcp(self.target.address, port, timeout, local_address, socket_options)


def pinned_client(target: Target, timeout_s: float) -> httpx.Client:
    """An HTTP client whose every connection goes to ``target.address`` (no redirects)."""
    transport = httpx.HTTPTransport()
    transport._pool._network_backend = _PinnedBackend(target)  # httpcore's documented extension point
    return httpx.Client(transport=transport, timeout=timeout_s, follow_redirects=False)
