"""A new webhook's test event and signing-secret rotation with an overlap window, against a real
loopback receiver that checks signatures independently of Dragnet's signing code."""

from __future__ import annotations

import hashlib
import hmac
import sqlite3
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr
from typer.testing import CliRunner

from api.app import create_app
from api.auth import KeyStore
from dragnet import sqlite as dsqlite
from dragnet.cli import app as cli_app
from dragnet.documents import utcnow
from dragnet.outbound import verify_signature
from dragnet.secretbox import seal
from dragnet.settings import DragnetSettings, use_settings
from takedown.delivery import deliver_pending
from takedown.service import FeedService
from takedown.store import SCHEMA, SqliteNoticeStore
from tests.takedown.helpers import FakePlatform, make_hit

ADMIN = "bootstrap-admin-key-for-tests-only-0123456789"


@pytest.fixture
def api(feed_settings: DragnetSettings, fake_platform: FakePlatform) -> Iterator[dict[str, Any]]:
    settings = feed_settings.model_copy(
        update={"api": feed_settings.api.model_copy(update={"bootstrap_admin_key": SecretStr(ADMIN)})}
    )
    use_settings(settings)
    keys = KeyStore(settings)
    client = TestClient(create_app(settings))
    try:
        yield {
            "settings": settings,
            "client": client,
            "fake": fake_platform,
            "hook": f"http://127.0.0.1:{fake_platform.port}/hook",
            "platform": {"X-API-Key": keys.create_key("Fakegram T&S", "platform:fakegram")},
            "other": {"X-API-Key": keys.create_key("Other T&S", "platform:otherapp")},
            "operator": {"X-API-Key": keys.create_key("Op", "operator")},
            "analyst": {"X-API-Key": keys.create_key("Ann", "analyst")},
        }
    finally:
        client.close()


def _register(api: dict[str, Any]) -> str:
    r = api["client"].put("/feeds/fakegram/webhook", headers=api["platform"], json={"url": api["hook"]})
    assert r.status_code == 200, r.text
    return str(r.json()["secret"])


def _hmac(secret: str, ts: str, body: bytes) -> str:
    return "v1=" + hmac.new(secret.encode(), ts.encode() + b"." + body, hashlib.sha256).hexdigest()


def test_a_new_webhook_gets_a_signed_test_event(api: dict[str, Any]) -> None:
    client, fake = api["client"], api["fake"]
    r = client.post("/feeds/fakegram/webhook/test", headers=api["platform"])
    assert r.status_code == 404 and "no webhook" in r.json()["detail"]
    fake.secret = _register(api)

    r = client.post("/feeds/fakegram/webhook/test", headers=api["platform"])
    assert r.status_code == 200, r.text
    report = r.json()
    assert (report["delivered"], report["status_code"], report["error"]) == (True, 200, None)
    # received, and verified by the receiver with the secret published at registration
    assert fake.verdicts[-1] == (200, "accepted")
    event = fake.events[-1]
    assert event["event"] == "webhook.test" and event["test"] is True and event["id"] == report["id"]
    assert event["platform"] == "fakegram" and "notice" not in event
    captured = fake.captured[-1]
    assert captured.headers["x-dragnet-test"] == "true"
    assert captured.headers["x-dragnet-event"] == "webhook.test"
    ts, sig = captured.headers["x-dragnet-timestamp"], captured.headers["x-dragnet-signature"]
    assert sig == _hmac(fake.secret, ts, captured.body)
    # no notice moved, and the delivery log names it as a test
    [logged] = [d for d in client.get("/feeds/fakegram/deliveries", headers=api["platform"]).json()["deliveries"]]
    assert (logged["channel"], logged["status_code"], logged["ok"]) == ("webhook-test", 200, True)

    # a receiver that holds another secret answers 401: reported, not hidden
    fake.secret = "not-the-published-secret"
    report = client.post("/feeds/fakegram/webhook/test", headers=api["operator"]).json()
    assert (report["delivered"], report["status_code"], report["error"]) == (False, 401, "HTTP 401")
    # another platform's key cannot test this webhook; an analyst has no business here
    assert client.post("/feeds/fakegram/webhook/test", headers=api["other"]).status_code == 403
    assert client.post("/feeds/fakegram/webhook/test", headers=api["analyst"]).status_code == 403

    # the CLI does the same and exits 1 on a failure
    runner = CliRunner()
    out = runner.invoke(cli_app, ["feeds", "webhook-test", "fakegram"])
    assert out.exit_code == 1 and "FAILED status=401" in out.output


def test_the_test_event_goes_through_the_address_checks(api: dict[str, Any]) -> None:
    settings = api["settings"]
    api["fake"].secret = _register(api)  # registered while private targets are allowed (tests)
    strict = settings.model_copy(update={"feeds": settings.feeds.model_copy(update={"webhook_allow_private": False})})
    use_settings(strict)
    client = TestClient(create_app(strict))
    try:
        report = client.post("/feeds/fakegram/webhook/test", headers=api["platform"]).json()
    finally:
        client.close()
    assert report["delivered"] is False and report["status_code"] is None
    assert report["error"].startswith("refused:") and "non-public" in report["error"]
    assert api["fake"].captured == []  # nothing reached the loopback receiver


def test_rotation_signs_with_both_secrets_during_the_overlap_then_only_the_new(api: dict[str, Any]) -> None:
    client, fake, settings = api["client"], api["fake"], api["settings"]
    old = _register(api)
    service = FeedService(settings)
    created = service.ingest(
        [make_hit(f"https://fakegram.test/p/W{i}", f"xanax bars lot {i}") for i in range(3)], bundles=False
    ).created
    for nid in created:
        service.review(nid, "approve", by="analyst:ann")

    r = client.post("/feeds/fakegram/webhook/rotate", headers=api["platform"], json={"overlap_s": 3600})
    assert r.status_code == 200, r.text
    new = r.json()["secret"]
    assert new != old and r.json()["previous_valid_until"] is not None

    # during the overlap: a receiver still on the old secret accepts, and so does one on the new
    fake.secret = old
    assert deliver_pending("fakegram", settings, service) == 3
    assert [v for v in fake.verdicts] == [(200, "accepted")] * 3
    for captured in fake.captured:
        ts, header = captured.headers["x-dragnet-timestamp"], captured.headers["x-dragnet-signature"]
        assert header.split(",") == [_hmac(new, ts, captured.body), _hmac(old, ts, captured.body)]
        for secret in (old, new):
            assert verify_signature(secret, ts, captured.body, header, window_s=300)
        assert not verify_signature("another", ts, captured.body, header, window_s=300)
    fake.secret = new
    report = client.post("/feeds/fakegram/webhook/test", headers=api["platform"]).json()
    assert report["delivered"] is True

    # both secrets are stored sealed, neither in plain text
    path = settings.feeds.store_path or settings.paths.data_dir / "feeds.sqlite3"
    with sqlite3.connect(path) as conn:
        stored = conn.execute("SELECT secret, previous_secret FROM webhooks WHERE platform='fakegram'").fetchone()
    assert all(value.startswith("enc:v1:") for value in stored)
    assert old not in "".join(stored) and new not in "".join(stored)

    # after the window: only the new secret signs
    sub = service.store.get_webhook("fakegram")
    assert sub is not None and sub.previous_secret == old
    sub.previous_secret_until = utcnow() - timedelta(seconds=1)
    service.store.set_webhook(sub)
    fake.secret = old
    assert client.post("/feeds/fakegram/webhook/test", headers=api["platform"]).json()["status_code"] == 401
    fake.secret = new
    assert client.post("/feeds/fakegram/webhook/test", headers=api["platform"]).json()["delivered"] is True
    captured = fake.captured[-1]
    ts, header = captured.headers["x-dragnet-timestamp"], captured.headers["x-dragnet-signature"]
    assert header == _hmac(new, ts, captured.body)
    assert not verify_signature(old, ts, captured.body, header, window_s=300)

    # without an overlap the old secret stops at once; a bad window and a missing webhook are refused
    r = client.post("/feeds/fakegram/webhook/rotate", headers=api["platform"], json={"overlap_s": 0})
    newest = r.json()["secret"]
    assert r.json()["previous_valid_until"] is None
    fake.secret = new
    assert client.post("/feeds/fakegram/webhook/test", headers=api["platform"]).json()["status_code"] == 401
    fake.secret = newest
    assert client.post("/feeds/fakegram/webhook/test", headers=api["platform"]).json()["delivered"] is True
    r = client.post("/feeds/fakegram/webhook/rotate", headers=api["platform"], json={"overlap_s": 8 * 86400})
    assert r.status_code == 422
    r = client.post("/feeds/otherapp/webhook/rotate", headers=api["other"], json={})
    assert r.status_code == 404
    assert client.post("/feeds/fakegram/webhook/rotate", headers=api["other"], json={}).status_code == 403


def test_a_version_1_store_gains_the_rotation_columns_and_keeps_its_webhook(feed_settings: DragnetSettings) -> None:
    """Store step 2 on a file written before rotation existed: the sealed secret still opens."""
    path = feed_settings.paths.data_dir / "old-feeds.sqlite3"
    conn = dsqlite.connect(path)
    dsqlite.migrate(conn, [SCHEMA])
    conn.execute(
        "INSERT INTO webhooks(platform, url, secret, delivered_seq) VALUES (?,?,?,?)",
        ("fakegram", "http://127.0.0.1:9/hook", seal("old-secret", feed_settings), 7),
    )
    conn.commit()
    conn.close()
    store = SqliteNoticeStore(path)
    try:
        sub = store.get_webhook("fakegram")
        assert sub is not None and (sub.secret, sub.delivered_seq) == ("old-secret", 7)
        assert (sub.previous_secret, sub.previous_secret_until) == (None, None)
        assert sub.signing_secrets(utcnow()) == ["old-secret"]
    finally:
        store.close()
    with sqlite3.connect(path) as check:
        assert check.execute("PRAGMA user_version").fetchone()[0] == 2
