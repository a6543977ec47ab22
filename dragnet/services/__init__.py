"""Real services for tests, the demo and the shell: Redis, OpenSearch, Chromium and a SOCKS5
proxy that maps ``.onion`` names to loopback sites.  Each binds to 127.0.0.1 on a free port,
installs what it is missing on first use, and cleans up after itself."""

from dragnet.services.process import ServiceError, free_port, wait_for_port

__all__ = ["ServiceError", "free_port", "wait_for_port"]
