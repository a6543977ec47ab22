"""Size-or-time batching: items are handed on in full batches of ``max_size``, and a partial
batch leaves at the latest ``max_wait_s`` after its first item arrived.  The classify queue is
fed this way so that a GPU worker receives full batches when the crawl is fast, and a slow
trickle still reaches the index within the wait bound."""

from __future__ import annotations

import atexit
import threading
import weakref
from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")

_live: weakref.WeakSet[Batcher] = weakref.WeakSet()


class Batcher(Generic[T]):
    """Thread-safe accumulator; ``flush`` is called outside the lock, in the caller's thread for
    full batches (so back-pressure from the broker slows the producer) and in a timer thread for
    a partial batch whose wait ran out."""

    def __init__(self, flush: Callable[[list[T]], None], max_size: int, max_wait_s: float) -> None:
        if max_size < 1 or max_wait_s <= 0:
            raise ValueError("max_size must be >= 1 and max_wait_s > 0")
        self._flush = flush
        self.max_size = max_size
        self.max_wait_s = max_wait_s
        self._buffer: list[T] = []
        self._lock = threading.Lock()
        self._send_lock = threading.Lock()  # keeps batches in order when the timer and add race
        self._timer: threading.Timer | None = None
        _live.add(self)

    def add(self, items: list[T]) -> None:
        full: list[list[T]] = []
        with self._lock:
            self._buffer.extend(items)
            while len(self._buffer) >= self.max_size:
                full.append(self._buffer[: self.max_size])
                del self._buffer[: self.max_size]
            if not self._buffer:
                self._cancel_timer()
            elif self._timer is None:
                self._timer = threading.Timer(self.max_wait_s, self._on_timer)
                self._timer.daemon = True
                self._timer.start()
        for batch in full:
            self._send(batch)

    def pending(self) -> int:
        with self._lock:
            return len(self._buffer)

    def flush(self) -> None:
        """Hand on whatever is buffered now (end of a crawl, process exit)."""
        with self._lock:
            batch, self._buffer = self._buffer, []
            self._cancel_timer()
        if batch:
            self._send(batch)

    def _on_timer(self) -> None:
        with self._lock:
            self._timer = None
            batch, self._buffer = self._buffer, []
        if batch:
            self._send(batch)

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _send(self, batch: list[T]) -> None:
        with self._send_lock:
            self._flush(batch)


@atexit.register
def _flush_all() -> None:
    for batcher in list(_live):
        try:
            batcher.flush()
        except Exception:  # noqa: BLE001 - nothing to report to at interpreter exit
            pass
