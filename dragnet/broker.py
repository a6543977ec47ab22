"""Is the broker there?  A worker or a crawl started without a reachable Redis would otherwise
wait on reconnects (Celery retries for ever) or fail deep inside with a traceback; the commands
ask once, up front, and stop with one line that names the address and the reason."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import redis
from redis.backoff import ExponentialBackoff
from redis.retry import Retry

# Errors of a broker that is restarting (refused, reset, timed out): retried, never raised at once.
OUTAGE_ERRORS: list[type[Exception]] = [redis.ConnectionError, redis.TimeoutError]


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


def outage_retry() -> Retry:
    """The retry policy of a Redis client that must ride out a broker restart: about a minute of
    reconnects (0.2 s doubling to 2 s), as publishing to the broker does."""
    return Retry(ExponentialBackoff(cap=2.0, base=0.2), 40)


def outage_params() -> dict[str, Any]:
    """Client keyword arguments for :func:`outage_retry` (also scrapy-redis's ``REDIS_PARAMS``)."""
    return {"retry": outage_retry(), "retry_on_error": list(OUTAGE_ERRORS)}


def restart_tolerant_redis(url: str, **kwargs: Any) -> redis.Redis:
    """A client for state that lives in the broker's Redis (the crawl frontier, version state):
    a command during a restart waits for the broker to come back instead of failing, because a
    failure there drops a request or a listing on the floor."""
    return redis.Redis.from_url(url, **outage_params(), **kwargs)
