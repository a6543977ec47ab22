"""The beat's crawl-schedule entry: it reaches the task that hands out due rounds, and that task,
run as a worker runs it, hands each due site out once per interval in the real Redis."""

from __future__ import annotations

import uuid
from pathlib import Path

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
