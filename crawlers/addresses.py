"""Which addresses a crawl may connect to, decided on what a host *resolves to*, not on how it is
spelled.

``2130706433``, ``0177.0.0.1``, ``0x7f000001``, ``127.1``, ``[::ffff:127.0.0.1]``, a hosts-file
name and a redirect to any of them all reach loopback; only the system resolver knows every
notation, so in direct mode every host is resolved once (``socket.getaddrinfo``, in a thread),
each result is checked, and the request is *pinned* to the address that was checked
(``request.meta["dragnet_pin"]``): the download handler connects to that address and never
resolves the name again, so DNS rebinding between check and connect gains nothing.

Through Tor (proxy mode) names are never resolved here: the proxy resolves them.  Only literal
addresses (in any notation ``inet_aton`` reads, which is a parser, not a lookup) are checked.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from dataclasses import dataclass

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

_LOCAL_NAMES = ("localhost", "localhost.localdomain")


def _unwrap(address: IPAddress) -> IPAddress:
    """An IPv4 address hidden in IPv6 (``::ffff:a.b.c.d``, 6to4, Teredo) is judged as IPv4."""
    if isinstance(address, ipaddress.IPv6Address):
        for inner in (address.ipv4_mapped, address.sixtofour):
            if inner is not None:
                return inner
        if address.teredo is not None:
            return address.teredo[1]
    return address


def refusal(address: IPAddress) -> str | None:
    """Why a crawl must not connect to ``address`` (``None``: a public address)."""
    address = _unwrap(address)
    for name in ("unspecified", "loopback", "link_local", "multicast", "private", "reserved"):
        if getattr(address, f"is_{name}"):
            return name.replace("_", "-")
    if not address.is_global:
        return "not-global"  # e.g. 100.64.0.0/10 (carrier-grade NAT), which is_private misses
    return None


def literal_address(host: str) -> IPAddress | None:
    """``host`` as an IP address if it is one in any notation the C library accepts
    (``127.1``, ``0x7f000001``, ``017700000001``, ``2130706433``, ``[::1]``); ``None`` for a name.
    No lookup is made."""
    host = host.strip().strip("[]").rstrip(".")
    if not host:
        return None
    try:
        return ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        pass
    if all(c in "0123456789abcdefxABCDEFX." for c in host) and host[0].isdigit():
        try:
            return ipaddress.IPv4Address(socket.inet_aton(host))
        except OSError:
            return None
    return None


def is_local_name(host: str) -> bool:
    host = host.strip("[]").rstrip(".").lower()
    return host in _LOCAL_NAMES or host.endswith(".localhost")


@dataclass(frozen=True)
class Verdict:
    host: str
    address: str | None  # the address to connect to (pinned); None when refused
    reason: str | None  # why refused; None when allowed
    addresses: tuple[str, ...] = ()


class AddressGuard:
    """Resolves and checks hosts once per crawl; ``allowed`` holds host names (allowed whatever
    they resolve to) and IP addresses or networks (allowed targets that resolve into them)."""

    def __init__(self, allow_private: bool, allowed: list[str]) -> None:
        self.allow_private = allow_private
        self.allowed_names: set[str] = set()
        self.allowed_networks: list[ipaddress.IPv4Network | ipaddress.IPv6Network] = []
        for entry in allowed:
            entry = entry.strip().strip("[]").lower()
            try:
                self.allowed_networks.append(ipaddress.ip_network(entry, strict=False))
            except ValueError:
                self.allowed_names.add(entry.rstrip("."))
        self._verdicts: dict[tuple[str, int], Verdict] = {}
        self._pending: dict[tuple[str, int], asyncio.Future[Verdict]] = {}

    def _address_allowed(self, address: IPAddress) -> bool:
        candidates = {address, _unwrap(address)}
        return any(a in n for a in candidates for n in self.allowed_networks if a.version == n.version)

    def judge(self, host: str, addresses: list[IPAddress]) -> Verdict:
        """Every address a name resolves to must pass (a name that answers both a public and a
        private address is a rebinding set-up); the first one is pinned."""
        name = host.strip("[]").rstrip(".").lower()
        texts = tuple(str(a) for a in addresses)
        if not addresses:
            return Verdict(host, None, "does not resolve", texts)
        if self.allow_private or name in self.allowed_names:
            return Verdict(host, texts[0], None, texts)
        for address in addresses:
            why = refusal(address)
            if why is not None and not self._address_allowed(address):
                return Verdict(host, None, f"resolves to {why} address {address}", texts)
        return Verdict(host, texts[0], None, texts)

    def judge_literal(self, host: str) -> Verdict | None:
        """Proxy mode: a literal address (any notation) or a local name is judged without any
        lookup; a name (``None``) is left to the proxy."""
        address = literal_address(host)
        if address is not None:
            return self.judge(host, [address])
        name = host.strip("[]").rstrip(".").lower()
        if is_local_name(host) and not (self.allow_private or name in self.allowed_names):
            return Verdict(host, None, "is a local name", ())
        return None

    async def resolve(self, host: str, port: int) -> Verdict:
        """Direct mode: resolve once per (host, port) with the system resolver, in a thread."""
        key = (host.lower(), port)
        verdict = self._verdicts.get(key)
        if verdict is not None:
            return verdict
        pending = self._pending.get(key)
        if pending is not None:
            return await asyncio.shield(pending)
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Verdict] = loop.create_future()
        self._pending[key] = future
        try:
            verdict = await self._lookup(loop, host, port)
            self._verdicts[key] = verdict
            future.set_result(verdict)
            return verdict
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # retrieved: waiters re-raise it
            raise
        finally:
            self._pending.pop(key, None)

    async def _lookup(self, loop: asyncio.AbstractEventLoop, host: str, port: int) -> Verdict:
        name = host.strip("[]")
        if name.rstrip(".").lower().endswith(".onion"):
            # Never ask a DNS server for an onion name (RFC 7686): it would announce the target.
            return Verdict(host, None, "is an onion name (reachable only through Tor)", ())
        try:
            infos = await loop.getaddrinfo(name, port, type=socket.SOCK_STREAM)
        except (OSError, UnicodeError) as exc:
            return Verdict(host, None, f"does not resolve ({exc})", ())
        addresses: list[IPAddress] = []
        for info in infos:
            text = str(info[4][0]).split("%", 1)[0]
            address = ipaddress.ip_address(text)
            if address not in addresses:
                addresses.append(address)
        return self.judge(host, addresses)
