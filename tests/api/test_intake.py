"""Continuous intake against a real Redis: posts pushed through the API come back as the scan
API's verdicts; back-pressure answers 429; a consumer killed with SIGKILL and restarted neither
loses nor repeats a verdict; and the Python client drives all of it over real HTTP."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import redis

from api import intake
from api import scan as scanning
from api.auth import KeyStore
from dragnet.client import DragnetClient, verify_webhook
from dragnet.outbound import signed_headers
from dragnet.services.process import wait_until
from dragnet.settings import use_settings
from tests.api.test_scan import POSTS, classify_command
from tests.api.testkit import ApiEnv

pytestmark = pytest.mark.integration


@pytest.fixture
def streams(api_env: ApiEnv, redis_server: Any) -> Iterator[ApiEnv]:
    """The API env with a broker: a Redis database of its own."""
    url = f"redis://127.0.0.1:{redis_server.port}/14"
    redis.Redis.from_url(url).flushdb()
    api_env.settings.redis.url = url
    use_settings(api_env.settings)
    yield api_env
    redis.Redis.from_url(url).flushdb()


def _owner(env: ApiEnv) -> str:
    principal = KeyStore(env.settings).authenticate(env.platform)
    assert principal is not None
    return scanning.owner_of(principal)


def _texts(n: int, prefix: str) -> list[tuple[str, str]]:
    return [(f"{prefix}{i}", f"{POSTS[i % len(POSTS)]['text']} (ref {prefix}{i})") for i in range(n)]


def test_pushed_posts_come_back_as_the_scan_apis_verdicts(streams: ApiEnv) -> None:
    client = streams.client(streams.platform)
    pushed = client.post("/api/v1/intake", json={"posts": [{"id": p["id"], "text": p["text"]} for p in POSTS]})
    assert pushed.status_code == 202 and pushed.json()["queued"] == len(POSTS)
    assert client.get("/api/v1/intake/verdicts").json()["verdicts"] == []  # nothing classified yet
    consumer = intake.IntakeConsumer(streams.settings, "test-consumer")
    assert consumer.run_once() == len(POSTS)
    first = client.get("/api/v1/intake/verdicts", params={"limit": 2}).json()
    rest = client.get("/api/v1/intake/verdicts", params={"after": first["next"]}).json()
    got = {v["id"]: v for v in first["verdicts"] + rest["verdicts"]}
    expected = classify_command(POSTS)
    assert list(got) == [p["id"] for p in POSTS]
    for post_id, verdict in got.items():
        for name in ("is_drug_sale", "intent", "score", "substances", "model_version"):
            assert verdict[name] == expected[post_id][name], (post_id, name)
    other = streams.client(streams.admin).get("/api/v1/intake/verdicts").json()
    assert other["verdicts"] == []  # another caller's stream: nothing of this platform's
    assert client.get("/api/v1/intake/verdicts", params={"after": "x"}).status_code == 422
    assert streams.client(streams.analyst).post("/api/v1/intake", json={"posts": POSTS[:1]}).status_code == 403


def test_back_pressure_answers_429_with_retry_after_and_adds_nothing(streams: ApiEnv) -> None:
    streams.settings.api.intake_max_backlog = 5
    client = streams.client(streams.platform)
    accepted = client.post("/api/v1/intake", json={"posts": [{"id": i, "text": t} for i, t in _texts(4, "b")]})
    assert accepted.status_code == 202
    refused = client.post("/api/v1/intake", json={"posts": [{"id": i, "text": t} for i, t in _texts(2, "c")]})
    assert refused.status_code == 429 and int(refused.headers["Retry-After"]) >= 1
    owner = _owner(streams)
    assert redis.Redis.from_url(str(streams.settings.redis.url)).xlen(intake.in_key(streams.settings, owner)) == 4


def test_a_consumer_killed_mid_stream_and_restarted_loses_and_repeats_nothing(streams: ApiEnv) -> None:
    settings = streams.settings
    posts = _texts(96, "k")
    owner = _owner(streams)
    intake.push(settings, owner, posts)
    env = {k: v for k, v in os.environ.items() if not k.startswith("DRAGNET_")}
    env.update(
        DRAGNET_ENV="test",
        DRAGNET_PATHS__DATA_DIR=str(settings.paths.data_dir),
        DRAGNET_REDIS__URL=str(settings.redis.url),
        DRAGNET_API__INTAKE_BATCH="8",
    )
    argv = [sys.executable, "-m", "dragnet.cli", "intake", "run", "--name", "slot-1"]
    out = intake.out_key(settings, owner)
    client = redis.Redis.from_url(str(settings.redis.url))
    first = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        wait_until(lambda: client.xlen(out) >= 16, 180, "the first verdicts")
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait(30)
    assert client.xlen(out) < len(posts)  # killed with work left
    second = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        wait_until(lambda: client.xlen(out) >= len(posts), 180, "every verdict")
        time.sleep(1.0)  # anything repeated would land now
    finally:
        second.terminate()
        second.wait(30)
    verdicts = intake.wait_for(settings, owner, len(posts), 5)
    ids = [v["id"] for v in verdicts]
    assert sorted(ids) == sorted(pid for pid, _ in posts) and len(ids) == len(set(ids))
    assert intake.backlog(client, intake.in_key(settings, owner)) == 0


def test_the_python_client_scans_pushes_follows_and_checks_signatures(streams: ApiEnv, live_server: str) -> None:
    streams.settings.api.scan_sync_max = 3  # the client's batches of 3 stay synchronous
    with DragnetClient(live_server, streams.platform, batch_size=3) as dn:
        verdicts = dn.scan([(p["id"], p["text"]) for p in POSTS])
        expected = classify_command(POSTS)
        assert [v.id for v in verdicts] == [p["id"] for p in POSTS]
        assert [v.is_drug_sale for v in verdicts] == [expected[p["id"]]["is_drug_sale"] for p in POSTS]
        streams.settings.api.intake_max_backlog = 4
        streams.settings.api.intake_retry_after_s = 1
        consumer = intake.IntakeConsumer(streams.settings, "client-test")
        draining = threading.Thread(target=consumer.run, daemon=True)
        draining.start()  # drains the backlog, so the client's pushes past 4 wait and then go
        try:
            assert dn.push(_texts(10, "q"), batch_size=2) == 10
            seen: list[str | int] = []
            for verdict in dn.follow():
                seen.append(verdict.id)
                if len(seen) == 10:
                    break
        finally:
            consumer.stop()
        assert sorted(map(str, seen)) == sorted(f"q{i}" for i in range(10))
    body = b'{"event": "scan.done"}'
    headers = signed_headers("s3cret", body)
    assert verify_webhook("s3cret", headers, body) and not verify_webhook("other", headers, body)
