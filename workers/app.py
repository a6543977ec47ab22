"""The Celery application.  ``celery -A workers.app worker -Q classify`` and ``dragnet worker``
both start workers from it.

Everything that shapes delivery comes from :mod:`dragnet.settings` (``workers`` section):
routing (``workers.routes``, task name -> queue), prefetch, the Redis visibility timeout that
bounds how long a message of a killed worker waits before it is delivered again, and the beat
schedule of the probes.  The delivery contract is at-least-once: ``acks_late`` (a message is
acknowledged only after its task finished) and ``reject_on_worker_lost`` (a pool process killed
mid-task puts its message back), with effects made idempotent by ``Listing.doc_id``.
"""

from __future__ import annotations

import logging
import os
from typing import Any

from celery import Celery, signals
from kombu import Queue

from classifier.engine import ClassifierEngine, get_engine
from classifier.model_store import ensure_default_model
from dragnet.logs import JsonFormatter
from dragnet.settings import DragnetSettings, get_settings
from workers.metrics import mark_process_dead, prepare_multiprocess, prime, start_metrics_server
from workers.pipeline import use_engine

log = logging.getLogger(__name__)

QUEUES: tuple[str, ...] = ("classify", "index", "feeds", "probes")


def celery_config(settings: DragnetSettings) -> dict[str, Any]:
    """Celery configuration derived from Dragnet's settings (one source of truth)."""
    w = settings.workers
    queues = sorted(set(QUEUES) | set(w.routes.values()))
    return {
        "broker_url": settings.redis.url or "memory://",
        "broker_transport_options": {
            "visibility_timeout": w.visibility_timeout_s,
            # Sweep for messages of dead workers every few seconds (kombu's default sweeps only
            # every 10th interval, ~100 s), so redelivery follows the visibility timeout closely.
            "unacked_restore_interval": max(1.0, min(10.0, w.visibility_timeout_s / 4)),
            "unacked_restore_throttle": 1,
            "unacked_mutex_expire": int(max(10.0, min(300.0, w.visibility_timeout_s))),
        },
        "broker_connection_retry_on_startup": True,
        "broker_connection_max_retries": None,  # a restarting broker is waited for, not fatal
        "broker_pool_limit": 4,
        "task_serializer": "json",
        "accept_content": ["json"],
        "task_ignore_result": True,
        "result_backend": None,
        "task_acks_late": True,
        "task_reject_on_worker_lost": True,
        "task_acks_on_failure_or_timeout": True,
        "worker_prefetch_multiplier": w.prefetch_multiplier,
        "worker_cancel_long_running_tasks_on_connection_loss": False,
        # task events for Flower / `celery events`: the worker's (received ... succeeded) and the
        # sender's task-sent, both from `workers.task_events`
        "worker_send_task_events": w.task_events,
        "task_send_sent_event": w.task_events,
        "task_routes": dict(w.routes),
        "task_queues": [Queue(name, routing_key=name) for name in queues],
        "task_default_queue": w.routes.get("workers.tasks.index_batch", "index"),
        "task_create_missing_queues": True,
        "beat_schedule": {
            "probe-due-markets": {
                "task": "workers.tasks.probe_due_markets",
                "schedule": w.probe_check_interval_s,
                "options": {
                    "queue": w.routes.get("workers.tasks.probe_due_markets", "probes"),
                    "expires": w.probe_check_interval_s,
                },
            },
            "schedule-crawls": {
                "task": "workers.tasks.schedule_crawls",
                "schedule": w.crawl_check_interval_s,
                "options": {
                    "queue": w.routes.get("workers.tasks.schedule_crawls", "probes"),
                    "expires": w.crawl_check_interval_s,
                },
            },
            "deliver-all-feeds": {
                "task": "workers.tasks.deliver_all_feeds",
                "schedule": w.feeds_check_interval_s,
                "options": {
                    "queue": w.routes.get("workers.tasks.deliver_all_feeds", "feeds"),
                    "expires": w.feeds_check_interval_s,
                },
            },
            "recheck-removals": {
                "task": "workers.tasks.recheck_removals",
                "schedule": w.feeds_check_interval_s,
                "options": {
                    "queue": w.routes.get("workers.tasks.recheck_removals", "feeds"),
                    "expires": w.feeds_check_interval_s,
                },
            },
        },
        "timezone": "UTC",
    }


app = Celery("dragnet", include=["workers.tasks"])
app.conf.update(celery_config(get_settings()))


def configure(settings: DragnetSettings) -> None:
    """Re-read the settings (tests and callers that switch brokers at run time)."""
    app.conf.update(celery_config(settings))
    # Drop the connection and producer pools bound to the old broker (Celery caches both).
    if app._pool is not None:
        app._pool.force_close_all()
        app._pool = None
    app.amqp._producer_pool = None


# --- worker process life cycle ---------------------------------------------------------------

_worker_options: dict[str, Any] = {}


@signals.celeryd_init.connect
def _remember_options(sender: Any = None, conf: Any = None, options: dict[str, Any] | None = None, **_: Any) -> None:
    """Runs in the parent before the pool forks: note queues and concurrency for the children,
    and set up multi-process metrics when a metrics port is configured."""
    _worker_options.update(options or {})
    os.umask(0o077)  # as `dragnet` itself: what a worker writes is for the operator only
    settings = get_settings()
    if settings.workers.metrics_port:
        prepare_multiprocess(settings.paths.data_dir / "metrics" / f"{os.getpid()}")


@signals.after_setup_logger.connect
def _json_logs(logger: Any = None, **_: Any) -> None:
    """Services log one JSON object a line when ``log_json`` is set (Celery's format otherwise).
    Client libraries log every request (and a traceback per failed one during an outage); the
    tasks log one line per failed attempt instead."""
    for noisy in ("opensearch", "elasticsearch", "elastic_transport", "urllib3", "httpx", "httpcore"):
        logging.getLogger(noisy).setLevel(logging.ERROR)
    if logger is not None and get_settings().log_json:
        for handler in logger.handlers:
            handler.setFormatter(JsonFormatter())


@signals.worker_init.connect
def _start_metrics(sender: Any = None, **_: Any) -> None:
    settings = get_settings()
    port = settings.workers.metrics_port
    if port:
        prime(sorted(set(settings.workers.routes) | {n for n in app.tasks if n.startswith("workers.tasks.")}))
        start_metrics_server(
            port,
            settings.redis.url,
            list(QUEUES) + list(settings.workers.routes.values()),
            settings.workers.dlq_key,
            host=settings.workers.metrics_host,
        )


def _consumes(queue: str) -> bool:
    queues = _worker_options.get("queues")
    if not queues:
        return True  # no -Q: the worker consumes every queue
    if isinstance(queues, str):
        queues = queues.split(",")
    return queue in {q.strip() for q in queues}


@signals.worker_process_init.connect
def _load_model_once(**_: Any) -> None:
    """Each pool process of a classify worker loads the model once, before its first task, so no
    task pays for it and a broken model shows in the log at start."""
    settings = get_settings()
    threads = settings.workers.threads_per_process
    concurrency = int(_worker_options.get("concurrency") or 1)
    if threads is None and concurrency > 1:
        threads = max(1, (os.cpu_count() or 1) // concurrency)  # N processes share the cores
    if threads:
        try:
            # torch/transformers take seconds to import: loaded only where the network runs
            import torch

            torch.set_num_threads(threads)
        except Exception:  # noqa: BLE001 - torch missing is the classifier's concern
            pass
    if not _consumes(settings.workers.routes.get("workers.tasks.classify_batch", "classify")):
        return
    try:
        if threads:
            engine = ClassifierEngine(ensure_default_model(), device=settings.classifier.device, threads=threads)
            use_engine(engine)
        else:
            engine = get_engine(ensure_default_model())
        log.info(
            "classifier loaded in worker process %d: %s on %s, model %s, %s thread(s)",
            os.getpid(),
            getattr(engine, "backend", "?"),
            getattr(engine, "device", "?"),
            getattr(engine, "version", "?"),
            getattr(engine, "threads", "?"),
        )
    except Exception:
        log.exception("could not load the classifier at worker start; tasks will retry")


@signals.worker_process_shutdown.connect
def _forget_process(pid: int | None = None, **_: Any) -> None:
    if get_settings().workers.metrics_port:
        mark_process_dead(pid or os.getpid())
