"""Prometheus metrics of the workers: tasks and items per outcome (rate() gives tasks/s), batch
sizes, task duration, crawl-to-indexed latency, and - read from Redis at scrape time - the depth
of every queue and the size of the dead-letter queue.

Celery's prefork pool runs tasks in child processes, so the counters use prometheus_client's
multiprocess mode: :func:`prepare_multiprocess` must run in the parent before any metric is
created; the parent's HTTP server then sums the children's files.
"""

from __future__ import annotations

import logging
import os
import shutil
from collections.abc import Iterable, Iterator
from pathlib import Path

import prometheus_client.values as values
import redis
from prometheus_client import REGISTRY, CollectorRegistry, Counter, Histogram, multiprocess, start_http_server
from prometheus_client.core import GaugeMetricFamily

log = logging.getLogger(__name__)

_MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"


def prepare_multiprocess(directory: Path) -> None:
    """Point prometheus_client at a fresh per-node directory (children inherit it by fork)."""
    shutil.rmtree(directory, ignore_errors=True)
    directory.mkdir(parents=True, exist_ok=True)
    os.environ[_MULTIPROC_ENV] = str(directory)  # read by prometheus_client itself, not by Dragnet

    values.ValueClass = values.get_value_class()


class _Metrics:
    """Created on first use, so that :func:`prepare_multiprocess` can run before (fork-safe)."""

    def __init__(self) -> None:
        self.tasks = Counter(
            "dragnet_worker_tasks_total",
            "Worker task runs by outcome (success, retry, failure, dead_lettered).",
            ["task", "outcome"],
        )
        self.items = Counter(
            "dragnet_worker_items_total",
            "Items through each stage by outcome (classified, written, unchanged, dead_lettered).",
            ["stage", "outcome"],
        )
        self.batch_size = Histogram(
            "dragnet_worker_batch_size",
            "Items per task batch.",
            ["task"],
            buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024),
        )
        self.task_seconds = Histogram(
            "dragnet_worker_task_seconds",
            "Wall time of one task run.",
            ["task"],
            buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 120),
        )
        self.crawl_to_indexed = Histogram(
            "dragnet_crawl_to_indexed_seconds",
            "From crawled_at to written in the store.",
            ["stage"],
            buckets=(0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 300, 3600),
        )
        self.dead_letters = Counter("dragnet_dead_letters_total", "Items sent to the dead-letter queue.", ["task"])


_metrics: _Metrics | None = None


def metrics() -> _Metrics:
    global _metrics
    if _metrics is None:
        _metrics = _Metrics()
    return _metrics


class QueueCollector:
    """Queue depth and DLQ size, read from Redis when Prometheus scrapes (never stale)."""

    def __init__(self, redis_url: str, queues: Iterable[str], dlq_key: str) -> None:
        self.client = redis.Redis.from_url(redis_url, socket_timeout=2, socket_connect_timeout=2)
        self.queues = sorted(set(queues))
        self.dlq_key = dlq_key

    def collect(self) -> Iterator[GaugeMetricFamily]:
        depth = GaugeMetricFamily("dragnet_queue_depth", "Messages waiting in each Celery queue.", labels=["queue"])
        dlq = GaugeMetricFamily("dragnet_dlq_size", "Entries in the dead-letter queue.")
        up = GaugeMetricFamily("dragnet_broker_up", "1 when the broker answered this scrape.")
        try:
            for queue in self.queues:
                depth.add_metric([queue], float(self.client.llen(queue)))
            dlq.add_metric([], float(self.client.hlen(self.dlq_key)))
            up.add_metric([], 1.0)
        except Exception:  # noqa: BLE001 - the broker may be restarting; say so instead of failing
            up.add_metric([], 0.0)
        yield depth
        yield dlq
        yield up


TASK_OUTCOMES = ("success", "retry", "failure", "dead_lettered")
# Pipeline stages (the framed classify and index tasks) and what each counts of its items.
PIPELINE_TASKS = ("workers.tasks.classify_batch", "workers.tasks.index_batch")
ITEM_OUTCOMES = {
    "classify_batch": ("classified", "dead_lettered"),
    "index_batch": ("written", "unchanged", "dead_lettered"),
}


def prime(task_names: Iterable[str], framed: Iterable[str] = PIPELINE_TASKS) -> None:
    """Create every series known in advance at zero: each task by outcome, its duration, and for
    the framed pipeline tasks their batch sizes, items and dead letters (``rate()`` then works
    from the first scrape, not from the first event)."""
    m = metrics()
    for task in task_names:
        for outcome in TASK_OUTCOMES:
            m.tasks.labels(task, outcome)
        m.task_seconds.labels(task)
    for task in framed:
        m.batch_size.labels(task)
        m.dead_letters.labels(task)
    for stage, outcomes in ITEM_OUTCOMES.items():
        for outcome in outcomes:
            m.items.labels(stage, outcome)
    m.crawl_to_indexed.labels("index")


def start_metrics_server(
    port: int, redis_url: str | None, queues: Iterable[str], dlq_key: str, host: str = "127.0.0.1"
) -> None:
    """Serve /metrics on ``host:port`` (loopback by default): the children's counters plus queue gauges."""

    registry = CollectorRegistry()
    if os.environ.get(_MULTIPROC_ENV):
        multiprocess.MultiProcessCollector(registry)
    else:
        registry = REGISTRY
    if redis_url:
        registry.register(QueueCollector(redis_url, queues, dlq_key))
    start_http_server(port, addr=host, registry=registry)
    log.info("worker metrics on http://%s:%d/metrics", host, port)


def mark_process_dead(pid: int) -> None:
    if os.environ.get(_MULTIPROC_ENV):
        multiprocess.mark_process_dead(pid)
