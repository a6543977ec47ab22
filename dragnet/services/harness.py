"""Start the real services from the shell: ``dragnet services up`` prints their addresses as
``DRAGNET_*`` variables and keeps them running until Ctrl-C; tests use the same classes
through pytest fixtures (tests/conftest.py)."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterable, Iterator

from dragnet.services.chromium import chromium_path
from dragnet.services.opensearch_node import OpenSearchNode, ensure_opensearch_jars
from dragnet.services.process import require_binary
from dragnet.services.redis_server import RedisServer
from dragnet.services.socks_proxy import SocksProxy

KNOWN_SERVICES = ("redis", "opensearch", "socks")


@contextlib.contextmanager
def running_services(names: Iterable[str]) -> Iterator[dict[str, str]]:
    """Start the named services, yield their environment variables, stop them on exit."""
    env: dict[str, str] = {}
    with contextlib.ExitStack() as stack:
        for name in names:
            if name == "redis":
                redis = stack.enter_context(RedisServer())
                env["DRAGNET_REDIS__URL"] = redis.url
            elif name == "opensearch":
                node = stack.enter_context(OpenSearchNode())
                env["DRAGNET_SEARCH__BACKEND"] = "opensearch"
                env["DRAGNET_SEARCH__URL"] = node.url
            elif name == "socks":
                proxy = stack.enter_context(SocksProxy())
                env["DRAGNET_TOR__SOCKS_URL"] = proxy.url
            else:
                raise ValueError(f"unknown service {name!r}; known: {', '.join(KNOWN_SERVICES)}")
        yield env


def prepare() -> None:
    """Fetch everything a service needs once (jars, Debian packages), so the first test is not
    the one that pays for downloads."""

    require_binary("redis-server", "redis-server")
    chromium_path()
    ensure_opensearch_jars()


def serve_forever(names: Iterable[str]) -> None:
    with running_services(names) as env:
        for key, value in env.items():
            print(f"export {key}={value}", flush=True)
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass
