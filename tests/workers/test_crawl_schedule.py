"""The beat's crawl-schedule entry: it reaches the task that hands out due rounds, and that task,
run as a worker runs it, hands each due site out once per interval in the real Redis."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import redis

from crawlers.schedule import CrawlSchedule
from dragnet.services.redis_server import RedisServer
from dragnet.settings import DragnetSettings, load_settings, use_settings
from workers.app import celery_config
from workers.tasks import schedule_crawls

REPO = Path(__file__).resolve().parents[2]


def test_the_beat_sends_the_crawl_schedule_to_a_worker_queue(settings: DragnetSettings) -> None:
    entry = celery_config(settings)["beat_schedule"]["schedule-crawls"]
    assert entry["task"] == schedule_crawls.name
    assert entry["schedule"] == settings.workers.crawl_check_interval_s
    assert entry["options"]["queue"] == settings.workers.routes[schedule_crawls.name] == "probes"


def test_the_task_hands_out_due_rounds_once(
    redis_server: RedisServer, settings: DragnetSettings, tmp_path: Path
) -> None:
    profiles = tmp_path / "profiles"
    profiles.mkdir()
    for name, extra in (("nightshade", "recrawl_s: 120\n"), ("tavern", "")):
        text = (REPO / "crawlers" / "profiles" / f"{name}.yaml").read_text()
        profiles.joinpath(f"{name}.yaml").write_text(text + extra)
    key = f"test:schedule:{uuid.uuid4().hex}"
    configured = load_settings(
        redis={"url": redis_server.url}, crawl={"profiles_dir": profiles, "schedule_key": key}, paths=settings.paths
    )
    use_settings(configured)
    assert schedule_crawls() == 2
    assert schedule_crawls() == 0  # both rounds still active
    schedule = CrawlSchedule.from_settings(configured)
    assert sorted(schedule.waiting()) == ["nightshade", "tavern"]
    nightshade, tavern = schedule.next_due("nightshade"), schedule.next_due("tavern")
    assert nightshade is not None and tavern is not None
    assert tavern - nightshade == configured.crawl.recrawl_interval_s - 120


def test_dragnet_beat_publishes_the_crawl_schedule(redis_server: RedisServer, settings: DragnetSettings) -> None:
    """`dragnet beat` (the compose `beat` service) is a real Celery beat: within seconds it puts
    a schedule_crawls message on the probes queue of the broker."""
    url = redis_server.url.rsplit("/", 1)[0] + "/8"
    client = redis.Redis.from_url(url)
    client.flushdb()
    env = {k: v for k, v in os.environ.items() if not k.startswith("DRAGNET_")}
    env.update(
        {
            "DRAGNET_ENV": "test",
            "DRAGNET_PATHS__DATA_DIR": str(settings.paths.data_dir),
            "DRAGNET_REDIS__URL": url,
            "DRAGNET_WORKERS__CRAWL_CHECK_INTERVAL_S": "1",
        }
    )
    beat = subprocess.Popen(
        [sys.executable, "-m", "dragnet.cli", "beat"],
        cwd=REPO,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    tasks: set[str] = set()
    try:
        deadline = time.time() + 90
        while schedule_crawls.name not in tasks and time.time() < deadline and beat.poll() is None:
            tasks |= {json.loads(m)["headers"]["task"] for m in client.lrange("probes", 0, -1)}
            time.sleep(0.5)
    finally:
        beat.terminate()
        _, err = beat.communicate(timeout=30)
    assert schedule_crawls.name in tasks, err[-3000:]
    assert (settings.paths.data_dir / "celerybeat-schedule").exists() or any(
        settings.paths.data_dir.glob("celerybeat-schedule*")
    )
