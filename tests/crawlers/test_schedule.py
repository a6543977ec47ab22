"""The crawl schedule against a real Redis: the beat hands a due site out once per interval,
never to two replicas at once (however many beats and replicas race), and a replica that dies
mid-crawl neither loses the site's queued requests nor blocks the next round."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from typer.testing import CliRunner

from crawlers.profiles import find_profile
from crawlers.schedule import CrawlSchedule, hand_out_due, intervals, run_replica, scheduled_profiles
from crawlers.simsites import SimulatedWorld
from dragnet import cli
from dragnet.services.redis_server import RedisServer
from dragnet.settings import DragnetSettings, load_settings
from tests.crawlers.conftest import REPO

pytestmark = pytest.mark.integration


@pytest.fixture
def client(redis_server: RedisServer) -> redis.Redis:
    return redis.Redis.from_url(redis_server.url)


@pytest.fixture
def sites(client: redis.Redis) -> Iterator[list[str]]:
    """Site names of this test only (their frontier queues are keys of the shared Redis)."""
    tag = uuid.uuid4().hex[:8]
    names = [f"s{tag}-{i}" for i in range(3)]  # in hand-out (sorted) order
    yield names
    for name in names:
        client.delete(f"{name}:requests")


def _schedule(client: redis.Redis, **kwargs: float) -> CrawlSchedule:
    return CrawlSchedule(client, f"test:schedule:{uuid.uuid4().hex}", **kwargs)  # type: ignore[arg-type]


def _queue(client: redis.Redis, site: str, n: int) -> None:
    """Requests left in a site's frontier queue (scrapy-redis: a sorted set under <site>:requests)."""
    client.zadd(f"{site}:requests", {f"request-{i}".encode(): -i for i in range(n)})


def test_a_due_site_is_handed_out_once_per_interval(client: redis.Redis, sites: list[str]) -> None:
    a, b, _ = sites
    schedule = _schedule(client)
    assert sorted(schedule.hand_out({a: 100, b: 50}, now=1000)) == sorted([a, b])
    assert schedule.hand_out({a: 100, b: 50}, now=1001) == []  # both active: nothing again
    first, second = schedule.take("r1", now=1002), schedule.take("r2", now=1002)
    assert first is not None and second is not None and {first.site, second.site} == {a, b}
    assert schedule.take("r3", now=1002) is None  # nothing queued to help with
    assert schedule.release(first, "r1", "ok", now=1010) == "ended"
    assert schedule.release(second, "r2", "ok", now=1010) == "ended"
    assert schedule.last(a) == {"round": 1, "ended_at": 1010, "ended": "ok"}
    assert schedule.hand_out({a: 100, b: 50}, now=1049) == []  # ended, but not due yet
    assert schedule.hand_out({a: 100, b: 50}, now=1050) == [b]
    assert schedule.hand_out({a: 100, b: 50}, now=1100) == [a]
    assert schedule.take("r1", now=1100).round == 2  # type: ignore[union-attr]


def test_racing_beats_and_replicas_share_one_round(client: redis.Redis, sites: list[str]) -> None:
    """Eight beats and eight replicas at once: one hand-out, one replica holds the site."""
    site = sites[0]
    schedule = _schedule(client)
    start = threading.Barrier(8)
    handed: list[str] = []
    taken: list[str] = []

    def beat() -> None:
        start.wait()
        handed.extend(schedule.hand_out({site: 3600}, now=5000))

    def replica(name: str) -> None:
        start.wait()
        claim = schedule.take(name, now=5001)
        if claim is not None:
            taken.append(name)

    for work in (beat, None):
        threads = [threading.Thread(target=work or replica, args=() if work else (f"r{i}",)) for i in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert handed == [site]
    assert len(taken) == 1
    assert schedule.active()[site]["taken"] is True


def test_a_second_replica_joins_a_round_with_queued_requests(client: redis.Redis, sites: list[str]) -> None:
    site = sites[0]
    schedule = _schedule(client, replicas_per_site=2)
    schedule.hand_out({site: 3600}, now=0)
    holder = schedule.take("r1", now=1)
    assert holder is not None and holder.how == "new"
    assert schedule.take("r2", now=2) is None  # the round has not queued anything yet
    _queue(client, site, 50)
    helper = schedule.take("r2", now=3)
    assert helper is not None and (helper.site, helper.how, helper.round) == (site, "join", 1)
    assert schedule.take("r3", now=4) is None  # two replicas per site at most
    client.delete(f"{site}:requests")
    assert schedule.release(helper, "r2", "ok", now=5) == "left"  # r1 still holds it
    assert schedule.release(holder, "r1", "ok", now=6) == "ended"


def test_a_dead_replica_loses_nothing_and_blocks_no_round(client: redis.Redis, sites: list[str]) -> None:
    """r1 dies holding a site with requests queued: after its lease expires another replica
    resumes the queue; the round then ends and the next one comes on time."""
    site, other, _ = sites
    schedule = _schedule(client, lease_ttl_s=60)
    schedule.hand_out({site: 600, other: 600}, now=0)
    dead = schedule.take("r1", now=1)
    assert dead is not None and dead.site == site
    _queue(client, site, 20)
    # r2 takes the other site; while r1's lease lives, nobody takes r1's site
    busy = schedule.take("r2", now=2)
    assert busy is not None and busy.site == other
    assert schedule.take("r3", now=30) is None
    # r1's lease expired: r3 resumes the queue r1 left (nothing was dropped)
    resumed = schedule.take("r3", now=62)
    assert resumed is not None and (resumed.site, resumed.how, resumed.round) == (site, "join", 1)
    assert client.zcard(f"{site}:requests") == 20
    client.delete(f"{site}:requests")  # r3's crawl drains it
    assert schedule.release(resumed, "r3", "ok", now=100) == "ended"
    schedule.renew(busy, "r2", now=590)  # r2 still crawls `other`
    assert schedule.hand_out({site: 600, other: 600}, now=600) == [site]

    # r4 dies on the next round with nothing queued: the beat's sweep ends that round after the
    # lease and hands out the following one when it is due
    assert schedule.take("r4", now=601).site == site  # type: ignore[union-attr]
    assert schedule.hand_out({site: 600}, now=650) == []  # lease alive: still active
    assert schedule.hand_out({site: 600}, now=1200) == [site]
    assert schedule.last(site) == {"round": 2, "ended_at": 1200, "ended": "swept"}


def test_a_failed_round_comes_back_after_the_retry_not_the_interval(client: redis.Redis, sites: list[str]) -> None:
    site = sites[0]
    schedule = _schedule(client, retry_s=60)
    schedule.hand_out({site: 3600}, now=0)
    failed = schedule.take("r1", now=1)
    assert failed is not None and schedule.release(failed, "r1", "exit 1", now=100) == "ended"
    assert schedule.last(site)["ended"] == "exit 1"  # type: ignore[index]
    assert schedule.hand_out({site: 3600}, now=159) == []
    assert schedule.hand_out({site: 3600}, now=160) == [site]  # not at 3600


def test_a_round_one_of_whose_crawls_succeeded_is_a_success(client: redis.Redis, sites: list[str]) -> None:
    """The replica that joined late and found nothing to do (exit 1) does not fail the round."""
    site = sites[0]
    schedule = _schedule(client, replicas_per_site=2, retry_s=60)
    schedule.hand_out({site: 3600}, now=0)
    first = schedule.take("r1", now=1)
    _queue(client, site, 5)
    late = schedule.take("r2", now=2)
    assert first is not None and late is not None and late.how == "join"
    client.delete(f"{site}:requests")
    assert schedule.release(first, "r1", "ok", now=50) == "left"
    assert schedule.release(late, "r2", "exit 1", now=51) == "ended"
    assert schedule.last(site)["ended"] == "ok"  # type: ignore[index]
    assert schedule.next_due(site) == 3600


def test_every_bundled_profile_but_the_test_site_is_scheduled(settings: DragnetSettings) -> None:
    names = {p.name for p in scheduled_profiles(settings)}
    assert {"nightshade", "velvet", "tavern", "chatter", "telegram"} <= names and "hostile" not in names
    profile = find_profile("nightshade").model_copy(update={"recrawl_s": 900.0})
    assert intervals([profile, find_profile("velvet")], 86400.0) == {"nightshade": 900.0, "velvet": 86400.0}


_REPLICA = """
import sys, redis
from crawlers.schedule import CrawlSchedule, run_replica
schedule = CrawlSchedule(redis.Redis.from_url(sys.argv[1]), sys.argv[2], lease_ttl_s=4)
run_replica(schedule, lambda site: [sys.executable, "-c", "import time; time.sleep(120)"], replica="doomed", poll_s=0.1)
"""


def test_a_killed_replica_process_does_not_block_the_next_round(
    redis_server: RedisServer, client: redis.Redis, sites: list[str]
) -> None:
    """Real processes: a replica crawling (its child runs) is killed with SIGKILL, process group
    and all; its lease stops being renewed, and a live replica crawls the next round."""
    site = sites[0]
    prefix = f"test:schedule:{uuid.uuid4().hex}"
    schedule = CrawlSchedule(client, prefix, lease_ttl_s=4)
    schedule.hand_out({site: 2}, now=time.time())
    doomed = subprocess.Popen(
        [sys.executable, "-c", _REPLICA, redis_server.url, prefix], cwd=REPO, start_new_session=True
    )
    try:
        leases = f"{prefix}:leases:{site}"
        deadline = time.time() + 60
        while client.zscore(leases, "doomed") is None and time.time() < deadline:
            time.sleep(0.1)
        first = client.zscore(leases, "doomed")
        assert first is not None, "the replica never took the round"
        time.sleep(2.0)  # renewed every third of the TTL
        renewed = client.zscore(leases, "doomed")
        assert renewed is not None and renewed > first  # renewed while its crawl runs
    finally:
        os.killpg(doomed.pid, signal.SIGKILL)
        doomed.wait()
    assert schedule.hand_out({site: 2}) == []  # lease still alive just after the kill
    time.sleep(4.5)
    assert schedule.hand_out({site: 2}) == [site]  # swept, due again: the next round
    crawled = run_replica(schedule, lambda s: [sys.executable, "-c", "pass"], replica="alive", max_rounds=1)
    assert crawled == 1
    assert schedule.last(site)["ended"] == "ok" and schedule.last(site)["round"] == 2  # type: ignore[index]
    assert schedule.active() == {}


@pytest.mark.slow
def test_two_scheduled_replicas_crawl_a_due_round_on_the_shared_frontier(
    redis_server: RedisServer, settings: DragnetSettings, tmp_path: Path
) -> None:
    """End to end with real processes: the beat task's body hands out the one due site, two
    `dragnet crawl --scheduled` replicas take it (the second joins while the frontier has
    requests queued), every listing is crawled exactly once, and the round ends."""
    url = redis_server.url.rsplit("/", 1)[0] + "/7"  # a database of its own: hand-offs pile up here
    client = redis.Redis.from_url(url)
    client.flushdb()
    profiles = tmp_path / "profiles"
    profiles.mkdir()
    profiles.joinpath("nightshade.yaml").write_text(
        (REPO / "crawlers" / "profiles" / "nightshade.yaml").read_text() + "recrawl_s: 3600\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("DRAGNET_")}
    with SimulatedWorld(60, faults=False, social_posts=1, forum_posts=1) as world:
        env.update(
            {
                "DRAGNET_ENV": "test",
                "DRAGNET_PATHS__DATA_DIR": str(settings.paths.data_dir),
                "DRAGNET_REDIS__URL": url,
                "DRAGNET_TOR__SOCKS_URL": world.proxy_url,
                "DRAGNET_CRAWL__PROFILES_DIR": str(profiles),
                "DRAGNET_CRAWL__REPLICAS_PER_SITE": "2",
                "DRAGNET_CRAWL__SCHEDULE_POLL_S": "0.2",
                "DRAGNET_CRAWL__RETRY_BACKOFF_S": "0.2",
                "DRAGNET_LOG_LEVEL": "WARNING",
            }
        )
        scheduled = load_settings(
            redis={"url": url}, crawl={"profiles_dir": profiles, "replicas_per_site": 2}, paths=settings.paths
        )
        assert hand_out_due(scheduled) == ["nightshade"]
        assert hand_out_due(scheduled) == []  # once per interval
        logs = [(tmp_path / f"r{i}.out", tmp_path / f"r{i}.err") for i in range(2)]
        replicas = [
            subprocess.Popen(  # output to files: a pipe nobody reads would stall the crawls
                [sys.executable, "-m", "dragnet.cli", "crawl", "--scheduled"],
                cwd=REPO,
                env=env,
                stdout=out.open("w"),
                stderr=err.open("w"),
            )
            for out, err in logs
        ]
        schedule = CrawlSchedule.from_settings(scheduled)
        try:
            deadline = time.time() + 400
            while schedule.last("nightshade") is None and time.time() < deadline:
                assert all(r.poll() is None for r in replicas), "a replica exited"
                time.sleep(0.5)
        finally:
            for replica in replicas:
                replica.send_signal(signal.SIGTERM)
            for replica in replicas:
                replica.wait(timeout=60)
        outputs = [(out.read_text(), err.read_text()) for out, err in logs]
        assert [r.returncode for r in replicas] == [0, 0], [err[-3000:] for _, err in outputs]
        truth = len(world.ground_truth()["nightshade"])
    assert schedule.last("nightshade")["round"] == 1  # type: ignore[index]
    assert schedule.active() == {}
    stats = [json.loads(line) for out, _ in outputs for line in out.splitlines() if line.startswith("{")]
    items = [s["items"] for s in stats]
    assert sum(items) == truth, items  # every listing once across the replicas' crawls
    assert client.hlen(f"{scheduled.workers.inflight_key}:items") == truth  # every one handed to the workers
    print(f"listings per child crawl: {items}")


def test_crawl_refuses_what_it_cannot_run(settings: DragnetSettings) -> None:
    """One line and exit 2: nothing to crawl, targets beside --scheduled, --scheduled with no broker."""
    runner = CliRunner()
    cases = [
        ([], "give site profiles or kinds, or --all"),
        (["nightshade", "--all"], "not both"),
        (["--scheduled", "nightshade"], "--scheduled takes no targets"),
        (["--scheduled"], "needs a broker"),
    ]
    for args, reason in cases:
        result = runner.invoke(cli.app, ["crawl", *args])
        assert result.exit_code == 2 and reason in result.output, (args, result.output)
