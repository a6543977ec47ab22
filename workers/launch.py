"""The command line of a Celery worker started as a child process (benchmarks, tests).

One place, so that what a benchmark measures and what the tests exercise is the same worker:
prefork pool, no gossip, mingle or heartbeat (they add broker chatter and start-up delay that
neither wants)."""

from __future__ import annotations

import sys


def worker_argv(queues: str, concurrency: int, hostname: str, *, loglevel: str = "INFO") -> list[str]:
    """``python -m celery -A workers.app worker`` consuming ``queues`` with ``concurrency`` processes."""
    return [
        sys.executable,
        "-m",
        "celery",
        "-A",
        "workers.app",
        "worker",
        "-Q",
        queues,
        "--concurrency",
        str(concurrency),
        "--pool",
        "prefork",
        "--loglevel",
        loglevel,
        "--hostname",
        hostname,
        "--without-gossip",
        "--without-mingle",
        "--without-heartbeat",
    ]
