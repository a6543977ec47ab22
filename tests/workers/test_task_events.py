"""Task events for Flower: a real worker on the session's real Redis publishes received, started
and succeeded events of a task, and the sender its task-sent event, by default; the setting turns
both off."""

from __future__ import annotations

import os
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

from dragnet.services.process import wait_until
from dragnet.settings import DragnetSettings, load_settings, use_settings
from tests.workers.conftest import REPO_ROOT, Pipeline
from workers.app import app, celery_config, configure


@pytest.fixture
def probes_worker_env(
    settings: DragnetSettings, redis_server: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Pipeline]:
    """Redis (database 0, which no other test uses) and a probes worker with no market to probe
    (an empty profiles dir), so its task is quick and touches nothing outside the test."""
    (tmp_path / "profiles").mkdir()
    env_vars = {
        "DRAGNET_ENV": "test",
        "DRAGNET_PATHS__DATA_DIR": str(settings.paths.data_dir),
        "DRAGNET_REDIS__URL": f"redis://127.0.0.1:{redis_server.port}/0",
        "DRAGNET_CRAWL__PROFILES_DIR": str(tmp_path / "profiles"),
    }
    for key, value in env_vars.items():
        monkeypatch.setenv(key, value)
    worker_settings = load_settings()
    use_settings(worker_settings)
    configure(worker_settings)
    env = {k: v for k, v in os.environ.items() if not k.startswith("DRAGNET_")}
    env.update(env_vars, PYTHONPATH=str(REPO_ROOT))
    redis.Redis.from_url(env_vars["DRAGNET_REDIS__URL"]).flushdb()
    pipe = Pipeline(worker_settings, env, tmp_path / "workers")
    try:
        yield pipe
    finally:
        pipe.close()
        redis.Redis.from_url(env_vars["DRAGNET_REDIS__URL"]).flushdb()


def test_task_events_on_by_default_and_setting_controlled(settings: DragnetSettings) -> None:
    assert settings.workers.task_events is True
    on = celery_config(settings)
    assert on["worker_send_task_events"] is True and on["task_send_sent_event"] is True
    off = celery_config(
        settings.model_copy(update={"workers": settings.workers.model_copy(update={"task_events": False})})
    )
    assert off["worker_send_task_events"] is False and off["task_send_sent_event"] is False


@pytest.mark.integration
def test_real_worker_emits_task_events(probes_worker_env: Pipeline) -> None:
    worker = probes_worker_env.start_worker("events", queues="probes")
    seen: list[dict[str, Any]] = []
    with app.connection_for_write() as conn:
        # what Flower does: a receiver on the events exchange, bound before the task is sent
        receiver = app.events.Receiver(conn, handlers={"*": seen.append}, node_id=f"test-{uuid.uuid4().hex[:6]}")
        bound = threading.Event()
        consume_ready = receiver.on_consume_ready

        def on_ready(*args: Any, **kwargs: Any) -> None:
            consume_ready(*args, **kwargs)
            bound.set()

        receiver.on_consume_ready = on_ready
        listening = threading.Thread(target=receiver.capture, kwargs={"limit": None, "timeout": None}, daemon=True)
        listening.start()
        try:
            assert bound.wait(30), "event receiver not bound"
            # "bound" is the consumer's; the Redis subscription itself may still be on its way,
            # and an event published before it lands is never seen (fanout is PUBLISH): wait
            # until an event of the test's own comes back before the one under test is sent
            marker = f"test-ready-{uuid.uuid4().hex[:8]}"

            def marker_seen() -> bool:
                with app.events.default_dispatcher() as dispatcher:
                    dispatcher.send("test-ready", marker=marker)
                return any(e.get("marker") == marker for e in list(seen))

            wait_until(marker_seen, 30, "an event of the test's own", interval_s=0.2)
            task_id = app.send_task("workers.tasks.probe_due_markets", queue="probes").id

            def kinds() -> set[str]:
                return {e["type"] for e in list(seen) if e.get("uuid") == task_id}

            try:
                wait_until(lambda: "task-succeeded" in kinds(), 60, "task-succeeded event", interval_s=0.2)
            except Exception as exc:  # noqa: BLE001 - reported with what was seen and the worker's log
                raise AssertionError(f"{exc}; events {sorted(kinds())}\n{worker.tail(40)}") from None
        finally:
            receiver.should_stop = True
            listening.join(timeout=10)
    assert {"task-sent", "task-received", "task-started", "task-succeeded"} <= kinds()
    by_kind = {e["type"]: e for e in seen if e.get("uuid") == task_id}
    assert by_kind["task-received"]["name"] == "workers.tasks.probe_due_markets"
    assert by_kind["task-succeeded"]["hostname"].startswith("events-")
    assert by_kind["task-succeeded"]["result"] == "0"  # no market was due
