"""One progress line for a whole crawl (every site of the run together): pages, listings,
errors and the page rate.

On a terminal the line is redrawn in place a few times a second, and wiped before any log
record is printed so the two never share a line; elsewhere (a pipe, a service's log) it is a
plain line every ``crawl.progress_interval_s`` seconds.  It reads the crawlers' own stats on a
timer, so it costs nothing per page.  A quiet run (log level above INFO) gets no line."""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Callable, Iterable
from typing import Any, TextIO

from twisted.internet import task

TTY_REFRESH_S = 0.5


def totals(stats: Iterable[dict[str, Any]]) -> dict[str, int]:
    """Pages, listings and errors summed over the sites' Scrapy stats."""
    figures = {"pages": 0, "listings": 0, "errors": 0}
    for values in stats:
        figures["pages"] += int(values.get("response_received_count", 0) or 0)
        figures["listings"] += int(values.get("item_scraped_count", 0) or 0)
        figures["errors"] += int(values.get("downloader/exception_count", 0) or 0) + int(
            values.get("spider_exceptions/count", 0) or 0
        )
    return figures


def progress_text(figures: dict[str, int], elapsed_s: float) -> str:
    rate = figures["pages"] / elapsed_s if elapsed_s > 0 else 0.0
    return (
        f"crawl: {figures['pages']} pages, {figures['listings']} listings, {figures['errors']} errors, "
        f"{rate:.1f} pages/s, {elapsed_s:.0f}s"
    )


class _WipeLine(logging.Filter):
    """Wipes the drawn progress line before a log record is written on the same terminal."""

    def __init__(self, progress: ProgressLine) -> None:
        super().__init__()
        self.progress = progress

    def filter(self, record: logging.LogRecord) -> bool:
        self.progress.wipe()
        return True


class ProgressLine:
    """Start with :meth:`start` once the reactor runs; :meth:`stop` wipes the line."""

    def __init__(
        self,
        read_stats: Callable[[], Iterable[dict[str, Any]]],
        interval_s: float,
        stream: TextIO | None = None,
    ) -> None:
        self.read_stats = read_stats
        self.stream = stream or sys.stderr
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.interval_s = TTY_REFRESH_S if self.tty else interval_s
        self.started = time.monotonic()
        self._drawn = False
        self._loop: Any = None
        self._filter = _WipeLine(self)
        self._handlers: list[logging.Handler] = []

    def start(self) -> None:
        """Idempotent: every site's engine start calls it; the first one starts the line."""
        if self._loop is not None:
            return
        self.started = time.monotonic()
        if self.tty:
            self._handlers = [h for h in logging.getLogger().handlers if getattr(h, "stream", None) is self.stream]
            for handler in self._handlers:
                handler.addFilter(self._filter)
        self._loop = task.LoopingCall(self.tick)
        self._loop.start(self.interval_s, now=False)

    def tick(self) -> None:
        text = progress_text(totals(self.read_stats()), time.monotonic() - self.started)
        if self.tty:
            self.stream.write("\r\x1b[K" + text)
            self._drawn = True
        else:
            self.stream.write(text + "\n")
        self.stream.flush()

    def wipe(self) -> None:
        if self._drawn:
            self.stream.write("\r\x1b[K")
            self._drawn = False

    def stop(self) -> None:
        if self._loop is not None and self._loop.running:
            self._loop.stop()
        for handler in self._handlers:
            handler.removeFilter(self._filter)
        self.wipe()
        self.stream.flush()
