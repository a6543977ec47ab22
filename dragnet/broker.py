"""Is the broker there?  A worker or a crawl started without a reachable Redis would otherwise
wait on reconnects (Celery retries for ever) or fail deep inside with a traceback; the commands
ask once, up front, and stop with one line that names the address and the reason."""

from __future__ import annotations

from urllib.parse import urlsplit

import redis


def redacted(url: str) -> str:
    """The broker address without its password, for a message an operator may paste anywhere."""
    parts = urlsplit(url)
    host = parts.hostname or "?"
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{host}{port}{parts.path}"


def broker_problem(url: str, timeout_s: float = 3.0) -> str | None:
    """``None`` when the Redis broker at ``url`` answers a PING within ``timeout_s``; otherwise
    one line saying why not."""
    try:
        client = redis.Redis.from_url(url, socket_connect_timeout=timeout_s, socket_timeout=timeout_s)
    except ValueError as exc:
        return f"broker URL {redacted(url)} is not a Redis URL: {exc}"
    try:
        client.ping()
    except redis.exceptions.AuthenticationError as exc:
        return f"broker {redacted(url)} refused our credentials: {exc}"
    except redis.exceptions.RedisError as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        return f"broker {redacted(url)} unreachable: {reason}"
    finally:
        client.close()
    return None
