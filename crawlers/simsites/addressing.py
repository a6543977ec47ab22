"""Addresses every simulated site has: its primary onion name, the URL crawlers use through the
SOCKS5 proxy, and the loopback URL the proxy maps it to."""

from __future__ import annotations


class OnionAddresses:
    """Mixin for a site with ``onion_hosts`` (primary first) and a bound loopback ``port``."""

    onion_hosts: list[str]
    port: int

    @property
    def onion_host(self) -> str:
        return self.onion_hosts[0]

    @property
    def base_url(self) -> str:
        return f"http://{self.onion_host}"

    @property
    def direct_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"
