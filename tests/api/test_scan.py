"""The platforms' scan API (``/api/v1/scan``) with the real default model and a real HTTP
callback: verdicts equal ``dragnet classify``'s, jobs, signed callbacks, idempotency, quota,
who may call, and that no post text is kept."""

from __future__ import annotations

import io
import json
import time

import pytest

from api import db
from api import scan as scanning
from api.auth import KeyStore
from classifier.cli import classify_stream
from classifier.engine import get_engine
from classifier.model_store import ensure_default_model
from dragnet.outbound import SIGNATURE_HEADER, TIMESTAMP_HEADER, verify_signature
from tests.api.testkit import ApiEnv, WebhookReceiver

POSTS = [
    {"id": "p1", "text": "Selling oxycodone 30mg pills and xanax bars, DM me on telegram, ships worldwide, stealth"},
    {"id": "p2", "text": "Our allotment society meets on Tuesday to swap courgette seedlings and compost tips"},
    {"id": 3, "text": "cocaine for sale, 1g 80 euro, wickr only, fast delivery in Berlin", "lang": "en"},
    {"id": "p4", "text": "The council voted to repaint the bandstand in the park before the summer festival"},
]
FIELDS = (
    "is_drug_sale",
    "intent",
    "score",
    "substances",
    "substance_scores",
    "evidence",
    "explanation",
    "threshold",
    "model_version",
)


def classify_command(posts: list[dict]) -> dict:
    """What ``dragnet classify`` prints for these posts, by id."""
    engine = get_engine(ensure_default_model())
    source = io.StringIO("".join(json.dumps({"id": p["id"], "text": p["text"]}) + "\n" for p in posts))
    sink = io.StringIO()
    classify_stream(engine, source, sink)
    return {r["id"]: r for r in map(json.loads, sink.getvalue().splitlines())}


def poll(client, job_id: str, timeout_s: float = 120.0) -> dict:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        response = client.get(f"/api/v1/scan/jobs/{job_id}")
        assert response.status_code == 200, response.text
        job = response.json()
        if job["status"] in ("done", "failed"):
            return job
        time.sleep(0.1)
    raise AssertionError(f"job {job_id} did not finish")


def test_sync_scan_equals_classify_command(api_env: ApiEnv) -> None:
    client = api_env.client(api_env.platform)
    response = client.post("/api/v1/scan", json={"posts": POSTS})
    assert response.status_code == 200, response.text
    body = response.json()
    expected = classify_command(POSTS)
    assert [r["id"] for r in body["results"]] == [p["id"] for p in POSTS]
    for result in body["results"]:
        assert set(result) == {"id", "cached", *FIELDS}
        assert result["cached"] is False
        assert {k: result[k] for k in FIELDS} == {k: expected[result["id"]][k] for k in FIELDS}
    assert body["hits"] == sum(r["is_drug_sale"] for r in expected.values())
    assert body["hits"] >= 1 and body["hits"] < len(POSTS)  # the texts hold both kinds
    entry = next(e for e in _audit(api_env) if e["action"] == "scan")
    assert entry["query"] == f"posts={len(POSTS)} hits={body['hits']}" and entry["result_count"] == len(POSTS)


def test_repeated_post_is_cached(api_env: ApiEnv, monkeypatch: pytest.MonkeyPatch) -> None:
    client = api_env.client(api_env.platform)
    first = client.post("/api/v1/scan", json={"posts": POSTS[:2]}).json()["results"]

    def no_model(*args: object) -> None:
        raise AssertionError("the model ran for a cached post")

    monkeypatch.setattr(scanning, "classify_texts", lambda model, texts: no_model() if texts else [])
    second = client.post("/api/v1/scan", json={"posts": POSTS[:2]}).json()["results"]
    assert [r["cached"] for r in second] == [True, True]
    assert [{k: r[k] for k in FIELDS} for r in second] == [{k: r[k] for k in FIELDS} for r in first]
    monkeypatch.undo()
    # a changed text under the same id is a new post: classified again
    changed = client.post("/api/v1/scan", json={"posts": [{"id": "p2", "text": POSTS[1]["text"] + " again"}]})
    assert changed.json()["results"][0]["cached"] is False


def test_async_job_with_polling_and_signed_callback(api_env: ApiEnv, webhook: WebhookReceiver) -> None:
    api_env.settings.feeds.webhook_allow_private = True
    api_env.settings.api.scan_sync_max = 2
    client = api_env.client(api_env.platform)
    accepted = client.post("/api/v1/scan", json={"posts": POSTS, "callback_url": webhook.url})
    assert accepted.status_code == 202, accepted.text
    ticket = accepted.json()
    secret = ticket["callback_secret"]
    job = poll(client, ticket["job_id"])
    assert job["status"] == "done" and job["done"] == len(POSTS)
    expected = classify_command(POSTS)
    assert [r["id"] for r in job["results"]] == [p["id"] for p in POSTS]
    for result in job["results"]:
        assert {k: result[k] for k in FIELDS} == {k: expected[result["id"]][k] for k in FIELDS}

    assert webhook.wait_for(1, timeout_s=30)
    headers, raw = webhook.raw[0]
    headers = {k.lower(): v for k, v in headers.items()}
    assert verify_signature(
        secret, headers[TIMESTAMP_HEADER.lower()], raw, headers[SIGNATURE_HEADER.lower()], window_s=300
    )
    assert not verify_signature(
        "wrong", headers[TIMESTAMP_HEADER.lower()], raw, headers[SIGNATURE_HEADER.lower()], window_s=300
    )
    delivered = json.loads(raw)
    assert delivered["job_id"] == ticket["job_id"] and delivered["results"] == job["results"]
    deadline = time.monotonic() + 10
    while client.get(f"/api/v1/scan/jobs/{ticket['job_id']}").json()["callback"]["status"] != "delivered":
        assert time.monotonic() < deadline
        time.sleep(0.05)


def test_large_batch_is_a_job_without_callback(api_env: ApiEnv) -> None:
    api_env.settings.api.scan_sync_max = 2
    client = api_env.client(api_env.platform)
    accepted = client.post("/api/v1/scan", json={"posts": POSTS})
    assert accepted.status_code == 202
    assert "callback_secret" not in accepted.json()
    job = poll(client, accepted.json()["job_id"])
    assert job["status"] == "done" and len(job["results"]) == len(POSTS) and job["callback"] is None


def test_refused_callback_url(api_env: ApiEnv) -> None:
    client = api_env.client(api_env.platform)
    response = client.post("/api/v1/scan", json={"posts": POSTS[:1], "callback_url": "http://127.0.0.1:9/hook"})
    assert response.status_code == 422  # loopback is not allowed by default


def test_another_platform_cannot_read_the_job(api_env: ApiEnv) -> None:
    api_env.settings.api.scan_sync_max = 1
    other = KeyStore(api_env.settings).create_key("other", "platform:other")
    client = api_env.client(api_env.platform)
    job_id = client.post("/api/v1/scan", json={"posts": POSTS[:2]}).json()["job_id"]
    assert api_env.client(other).get(f"/api/v1/scan/jobs/{job_id}").status_code == 404
    assert api_env.client(api_env.platform).get("/api/v1/scan/jobs/nope").status_code == 404
    assert poll(client, job_id)["status"] == "done"


def test_quota_429_with_retry_after(api_env: ApiEnv) -> None:
    api_env.settings.api.scan_quota_per_minute = 3
    client = api_env.client(api_env.platform)
    assert client.post("/api/v1/scan", json={"posts": POSTS[:2]}).status_code == 200
    refused = client.post("/api/v1/scan", json={"posts": POSTS[2:4]})
    assert refused.status_code == 429
    assert 1 <= int(refused.headers["Retry-After"]) <= 60
    assert any(e["query"].endswith("[quota]") for e in _audit(api_env))
    assert client.post("/api/v1/scan", json={"posts": POSTS[2:3]}).status_code == 200  # what is left fits


def test_roles(api_env: ApiEnv) -> None:
    body = {"posts": POSTS[:1]}
    assert api_env.client(api_env.analyst).post("/api/v1/scan", json=body).status_code == 403
    assert api_env.client(api_env.operator).post("/api/v1/scan", json=body).status_code == 403
    assert api_env.client().post("/api/v1/scan", json=body).status_code == 401
    assert api_env.client(api_env.admin).post("/api/v1/scan", json=body).status_code == 200


def test_bad_bodies(api_env: ApiEnv) -> None:
    client = api_env.client(api_env.platform)
    assert client.post("/api/v1/scan", json={"posts": []}).status_code == 422
    assert client.post("/api/v1/scan", json={"posts": [{"id": "x", "text": "   "}]}).status_code == 422
    assert client.post("/api/v1/scan", json={"posts": [{"id": "x", "text": "a", "extra": 1}]}).status_code == 422
    assert client.post("/api/v1/scan", json={"posts": [{"id": True, "text": "a"}]}).status_code == 422
    api_env.settings.api.scan_max_posts = 2
    assert client.post("/api/v1/scan", json={"posts": POSTS[:3]}).status_code == 413


def test_no_post_text_is_stored(api_env: ApiEnv) -> None:
    client = api_env.client(api_env.platform)
    body = client.post("/api/v1/scan", json={"posts": POSTS}).json()
    assert body["hits"] >= 1
    files = [p for p in db.db_path(api_env.settings).parent.iterdir() if p.name.startswith("api.sqlite3")]
    raw = b"".join(p.read_bytes() for p in files)  # the database and its write-ahead log
    for post in POSTS:
        assert post["text"].encode() not in raw
    for post, result in zip(POSTS, body["results"], strict=True):
        if not result["is_drug_sale"]:  # nothing of a non-hit is kept: not even a word of it
            for word in ("allotment", "courgette", "bandstand", "repaint"):
                if word in post["text"]:
                    assert word.encode() not in raw
    with db.connect(api_env.settings) as conn:
        assert conn.execute("SELECT COUNT(*) FROM scan_verdicts").fetchone()[0] == len(POSTS)


def test_retention_purge(api_env: ApiEnv) -> None:
    client = api_env.client(api_env.platform)
    client.post("/api/v1/scan", json={"posts": POSTS[:1]})
    with db.connect(api_env.settings) as conn:
        conn.execute("UPDATE scan_verdicts SET created_at = '2000-01-01T00:00:00+00:00'")
    again = client.post("/api/v1/scan", json={"posts": POSTS[:1]}).json()["results"][0]
    assert again["cached"] is False  # the old verdict was purged, not reused


def _audit(api_env: ApiEnv) -> list[dict]:
    with db.connect(api_env.settings) as conn:
        return [dict(r) for r in conn.execute("SELECT * FROM audit_log ORDER BY id DESC").fetchall()]


def test_failing_callback_is_retried_then_reported(api_env: ApiEnv, webhook: WebhookReceiver) -> None:
    api_env.settings.feeds.webhook_allow_private = True
    api_env.settings.feeds.webhook_max_attempts = 2
    api_env.settings.feeds.webhook_backoff_s = 0
    webhook.status = 500
    client = api_env.client(api_env.platform)
    job_id = client.post("/api/v1/scan", json={"posts": POSTS[:1], "callback_url": webhook.url}).json()["job_id"]
    assert poll(client, job_id)["status"] == "done"
    deadline = time.monotonic() + 20
    while (callback := client.get(f"/api/v1/scan/jobs/{job_id}").json()["callback"])["status"] == "pending":
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert callback == {"status": "failed", "attempts": 2, "error": "HTTP 500"}


def test_scan_route_has_its_own_body_cap(api_env: ApiEnv) -> None:
    api_env.settings.api.max_body_bytes = 2048
    body = {"posts": [{"id": "long", "text": "garden club notes " * 200}]}  # about 3.6 kB
    assert api_env.client(api_env.platform).post("/api/v1/scan", json=body).status_code == 200
    api_env.settings.api.scan_max_body_bytes = 2048
    assert api_env.client(api_env.platform).post("/api/v1/scan", json=body).status_code == 413


def test_hits_on_the_calling_platform_become_notices_for_review_with_its_own_ids(api_env: ApiEnv) -> None:
    telegram = KeyStore(api_env.settings).create_key("tg trust and safety", "platform:telegram")
    client = api_env.client(telegram)
    posts = [
        {"id": "m1", "text": POSTS[0]["text"], "url": "https://t.me/plugshop/4242"},  # a hit on Telegram
        {"id": "m2", "text": POSTS[1]["text"], "url": "https://t.me/gardeners/17"},  # not a hit
        {"id": "m3", "text": POSTS[2]["text"], "url": "https://www.instagram.com/p/Cabc123/"},  # another platform
        {"id": "m4", "text": POSTS[2]["text"]},  # a hit without a URL
    ]
    answer = client.post("/api/v1/scan", json={"posts": posts, "notices": True}).json()
    assert [r["is_drug_sale"] for r in answer["results"]] == [True, False, True, True]
    (created,) = answer["notices"]["created"]
    assert answer["notices"]["skipped"] == ["m3", "m4"]
    queue = api_env.client(api_env.analyst).get("/feeds/telegram/notices", params={"status": "new"}).json()
    (notice,) = [n for n in queue["notices"] if n["id"] == created]
    assert notice["target"]["url"] == "https://t.me/plugshop/4242"
    assert notice["target"]["native_ids"] == {"channel": "plugshop", "message_id": "4242", "account": "plugshop"}
    again = client.post("/api/v1/scan", json={"posts": posts[:1], "notices": True}).json()
    assert again["notices"]["duplicates"] == [created] and again["notices"]["created"] == []
