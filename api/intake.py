"""Continuous intake: platforms that post a steady flow of content push it to
``POST /api/v1/intake`` and read verdicts from ``GET /api/v1/intake/verdicts``; between the two
sit two Redis streams per platform and a consumer group (``dragnet intake run``).

Why streams: a push is answered as soon as the posts are durable in Redis (append-only file),
not when the model has seen them, so a burst never times out a platform's uploader. The consumer
group gives at-least-once reading, and a consumer that dies holding messages has them claimed by
another (``XAUTOCLAIM``). The verdicts of a batch and the acknowledgement of its messages are
written in one ``MULTI``: either both happen or neither. A consumer killed at any instant
therefore never loses a post and never writes a verdict twice. Verdicts are the scan API's own
(:func:`api.scan.scan`): the same fields, idempotency and stored hashes.

Back-pressure: when the posts a platform has pushed but no consumer has acknowledged pass
``api.intake_max_backlog``, a push is answered 429 with ``Retry-After`` and nothing is added.

Keys: ``<prefix>:in:<owner>`` (posts), ``<prefix>:out:<owner>`` (verdicts), group ``classify``.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
import time
from collections.abc import Sequence
from typing import Any

import redis

from api import scan as scanning
from dragnet.settings import DragnetSettings

log = logging.getLogger(__name__)
GROUP = "classify"


class IntakeUnavailable(RuntimeError):
    """No broker is configured (``redis.url``): continuous intake needs one."""


class Backlogged(RuntimeError):
    """Too many posts wait for a verdict; ``retry_after_s`` says when to push again."""

    def __init__(self, backlog: int, retry_after_s: int) -> None:
        super().__init__(f"{backlog} posts are waiting for a verdict")
        self.backlog = backlog
        self.retry_after_s = retry_after_s


def _client(settings: DragnetSettings) -> redis.Redis:
    if not settings.redis.url:
        raise IntakeUnavailable("continuous intake needs a broker: set redis.url")
    return redis.Redis.from_url(str(settings.redis.url), decode_responses=True, socket_timeout=10)


def in_key(settings: DragnetSettings, owner: str) -> str:
    return f"{settings.api.intake_stream_prefix}:in:{owner}"


def out_key(settings: DragnetSettings, owner: str) -> str:
    return f"{settings.api.intake_stream_prefix}:out:{owner}"


def _ensure_group(client: redis.Redis, stream: str) -> None:
    try:
        client.xgroup_create(stream, GROUP, id="0", mkstream=True)
    except redis.ResponseError as exc:
        if "BUSYGROUP" not in str(exc):
            raise


def backlog(client: redis.Redis, stream: str) -> int:
    """Posts pushed and not yet acknowledged: never read by the group, plus read and pending."""
    try:
        groups = client.xinfo_groups(stream)
    except redis.ResponseError:
        return 0
    for group in groups:
        if group["name"] == GROUP:
            lag = group.get("lag")
            unread = int(lag) if lag is not None else int(client.xlen(stream))
            return unread + int(group.get("pending") or 0)
    return int(client.xlen(stream))


def push(settings: DragnetSettings, owner: str, posts: Sequence[tuple[str | int, str]]) -> list[str]:
    """Append posts to the owner's intake stream; their stream ids, in order."""
    client = _client(settings)
    try:
        stream = in_key(settings, owner)
        _ensure_group(client, stream)
        waiting = backlog(client, stream)
        if waiting + len(posts) > settings.api.intake_max_backlog:
            raise Backlogged(waiting, settings.api.intake_retry_after_s)
        pipe = client.pipeline(transaction=True)
        for post_id, text in posts:
            pipe.xadd(stream, {"id": json.dumps(post_id), "text": text})
        return [str(entry) for entry in pipe.execute()]
    finally:
        client.close()


def read_verdicts(
    settings: DragnetSettings, owner: str, after: str = "0", limit: int = 100
) -> tuple[list[dict[str, Any]], str]:
    """Verdicts after stream id ``after`` (the previous page's cursor), oldest first."""
    client = _client(settings)
    try:
        entries: Any = client.xrange(out_key(settings, owner), min=f"({after}" if after != "0" else "-", count=limit)
    except redis.ResponseError as exc:
        raise ValueError(f"invalid cursor {after!r}") from exc
    finally:
        client.close()
    verdicts = [json.loads(fields["verdict"]) for _, fields in entries]
    return verdicts, (str(entries[-1][0]) if entries else after)


class IntakeConsumer:
    """One member of the consumer group; ``name`` must stay the same across restarts of the
    same process slot, so that what it held when it died is read again first."""

    def __init__(self, settings: DragnetSettings, name: str | None = None) -> None:
        self.settings = settings
        self.name = name or f"{socket.gethostname()}-{os.getpid()}"
        self.client = _client(settings)
        self._stop = threading.Event()

    def owners(self) -> list[str]:
        prefix = f"{self.settings.api.intake_stream_prefix}:in:"
        return sorted(key[len(prefix) :] for key in self.client.scan_iter(match=f"{prefix}*", count=1000))

    def _take(self, stream: str) -> list[tuple[str, dict[str, str]]]:
        """This consumer's own unacknowledged messages first, then ones a dead consumer left
        idle, then new ones."""
        batch = self.settings.api.intake_batch
        own: Any = self.client.xreadgroup(GROUP, self.name, {stream: "0"}, count=batch)
        messages: list[Any] = own[0][1] if own else []
        if not messages:
            claimed: Any = self.client.xautoclaim(
                stream, GROUP, self.name, int(self.settings.api.intake_claim_idle_s * 1000), "0-0", count=batch
            )
            messages = claimed[1] if claimed else []
        if not messages:
            new: Any = self.client.xreadgroup(GROUP, self.name, {stream: ">"}, count=batch)
            messages = new[0][1] if new else []
        return [(mid, fields) for mid, fields in messages if fields]  # a deleted entry comes back empty

    def run_once(self) -> int:
        """Classify one batch per platform stream; returns how many posts got a verdict."""
        done = 0
        for owner in self.owners():
            stream = in_key(self.settings, owner)
            _ensure_group(self.client, stream)
            messages = self._take(stream)
            if not messages:
                continue
            posts = [(json.loads(fields["id"]), fields["text"]) for _, fields in messages]
            verdicts = scanning.scan(self.settings, owner, posts)
            pipe = self.client.pipeline(transaction=True)  # MULTI: verdicts and acks together
            for (message_id, _), verdict in zip(messages, verdicts, strict=True):
                record = {**verdict, "stream_id": message_id}
                pipe.xadd(out_key(self.settings, owner), {"verdict": json.dumps(record, ensure_ascii=False)})
                pipe.xack(stream, GROUP, message_id)
                pipe.xdel(stream, message_id)
            pipe.execute()
            done += len(messages)
        return done

    def run(self, idle_sleep_s: float = 0.2) -> None:
        while not self._stop.is_set():
            try:
                if self.run_once() == 0:
                    self._stop.wait(idle_sleep_s)
            except redis.ConnectionError as exc:
                log.warning("intake: broker unavailable (%s); retrying", exc)
                self._stop.wait(1.0)

    def stop(self) -> None:
        self._stop.set()


def wait_for(settings: DragnetSettings, owner: str, count: int, timeout_s: float) -> list[dict[str, Any]]:
    """Every verdict of the owner's stream once there are ``count`` (examples and tests)."""
    deadline = time.monotonic() + timeout_s
    while True:
        verdicts, _ = read_verdicts(settings, owner, limit=count + 1000)
        if len(verdicts) >= count or time.monotonic() > deadline:
            return verdicts
        time.sleep(0.2)
