"""Start the real services from the shell: ``dragnet services up`` prints their addresses as
``DRAGNET_*`` variables and keeps them running until Ctrl-C; tests use the same classes
through pytest fixtures (tests/conftest.py)."""

from __future__ import annotations

import contextlib
import signal
import sys
import time
from collections.abc import Iterable, Iterator

from dragnet.services.chromium import chromium_path
from dragnet.services.elasticsearch_node import ElasticsearchNode, ensure_elasticsearch_jars
from dragnet.services.opensearch_node import OpenSearchNode, ensure_opensearch_jars
from dragnet.services.process import require_binary
from dragnet.services.promtool import promtool_path
from dragnet.services.redis_server import RedisServer
from dragnet.services.socks_proxy import SocksProxy

KNOWN_SERVICES = ("redis", "opensearch", "elasticsearch", "socks")
# started when none are named: one search engine (the stores' DRAGNET_SEARCH__URL)
DEFAULT_SERVICES = ("redis", "opensearch", "socks")


@contextlib.contextmanager
def running_services(
    names: Iterable[str], onion_map: dict[str, tuple[str, int]] | None = None
) -> Iterator[dict[str, str]]:
    """Start the named services, yield their environment variables, stop them on exit.  With
    both engines, the first named is the store's; Elasticsearch is also the contract tests' one
    (``DRAGNET_TEST_ES_URL``).  ``onion_map`` (``name.onion`` -> loopback host and port) is what
    the SOCKS proxy resolves, as Tor resolves a published onion service."""
    names = list(names)
    if onion_map and "socks" not in names:
        raise ValueError("--map needs the socks service (dragnet services up socks --map ...)")
    env: dict[str, str] = {}
    with contextlib.ExitStack() as stack:
        for name in names:
            if name == "redis":
                redis = stack.enter_context(RedisServer())
                env["DRAGNET_REDIS__URL"] = redis.url
            elif name == "opensearch":
                node = stack.enter_context(OpenSearchNode())
                env.setdefault("DRAGNET_SEARCH__BACKEND", "opensearch")
                env.setdefault("DRAGNET_SEARCH__URL", node.url)
            elif name == "elasticsearch":
                es = stack.enter_context(ElasticsearchNode())
                env.setdefault("DRAGNET_SEARCH__BACKEND", "elasticsearch")
                env.setdefault("DRAGNET_SEARCH__URL", es.url)
                env["DRAGNET_TEST_ES_URL"] = es.url
            elif name == "socks":
                proxy = stack.enter_context(SocksProxy(onion_map))
                env["DRAGNET_TOR__SOCKS_URL"] = proxy.url
            else:
                raise ValueError(f"unknown service {name!r}; known: {', '.join(KNOWN_SERVICES)}")
        yield env


def prepare() -> None:
    """Fetch everything a service needs once (jars, Debian packages), so the first test is not
    the one that pays for downloads."""

    require_binary("redis-server", "redis-server")
    promtool_path()
    chromium_path()
    ensure_opensearch_jars()
    ensure_elasticsearch_jars()


def serve_forever(names: Iterable[str], onion_map: dict[str, tuple[str, int]] | None = None) -> None:
    """Run the services until SIGTERM or SIGINT, then stop every child (also one still starting:
    the unwinding closes what was entered, and each child process is stopped at exit)."""
    # SIGTERM (kill, a supervisor) stops the services like Ctrl-C does, instead of orphaning them
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        with running_services(names, onion_map) as env:
            for key, value in env.items():
                print(f"export {key}={value}", flush=True)
            for name, (host, port) in sorted((onion_map or {}).items()):
                print(f"# socks: {name} -> {host}:{port}", flush=True)
            print("# services up; SIGTERM or Ctrl-C stops them", flush=True)
            while True:
                time.sleep(3600)
    except KeyboardInterrupt:
        pass  # Ctrl-C, also during start-up: the services are stopped by now, no traceback
