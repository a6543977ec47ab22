"""Key life cycle: list, revoke, rotate and expiry from the CLI and the API (audited), and a
bootstrap admin key that must be strong and retires once a real admin key exists."""

from __future__ import annotations

import sqlite3
import time

import pytest
from typer.testing import CliRunner

from api import db
from api.auth import KeyStore
from dragnet.cli import app as cli
from dragnet.settings import ConfigError, DragnetSettings, load_settings, use_settings
from tests.api.testkit import ApiEnv

BOOT = "bootstrap-" + "k" * 40


def test_the_cli_creates_lists_rotates_and_revokes_keys(settings: DragnetSettings) -> None:
    runner = CliRunner()
    created = runner.invoke(cli, ["keys", "create", "alice", "--role", "analyst", "--expires-days", "30"])
    assert created.exit_code == 0, created.output
    key = created.stdout.strip()
    keys = KeyStore(settings)
    principal = keys.authenticate(key)
    assert principal is not None and principal.name == "alice"
    listed = runner.invoke(cli, ["keys", "list"])
    assert principal.key_id in listed.stdout and "active" in listed.stdout and key not in listed.stdout
    rotated = runner.invoke(cli, ["keys", "rotate", principal.key_id])
    assert rotated.exit_code == 0, rotated.output
    new_key = rotated.stdout.strip()
    assert keys.authenticate(key) is None  # the old key stops at once
    replacement = keys.authenticate(new_key)
    assert replacement is not None and (replacement.name, replacement.role) == ("alice", "analyst")
    assert runner.invoke(cli, ["keys", "revoke", replacement.key_id]).exit_code == 0
    assert keys.authenticate(new_key) is None
    assert runner.invoke(cli, ["keys", "revoke", replacement.key_id]).exit_code == 1  # nothing left to revoke
    states = {entry["key_id"]: entry["state"] for entry in keys.list_keys()}
    assert states == {principal.key_id: "revoked", replacement.key_id: "revoked"}


def test_a_key_stops_working_when_it_expires(settings: DragnetSettings) -> None:
    keys = KeyStore(settings)
    short = keys.create_key("temp", "analyst", ttl_days=1 / 86400)  # one second
    assert keys.authenticate(short) is not None
    time.sleep(1.2)
    assert keys.authenticate(short) is None
    assert [entry["state"] for entry in keys.list_keys()] == ["expired"]
    with pytest.raises(KeyError):
        keys.rotate(keys.list_keys()[0]["key_id"] or "")  # an expired key is replaced, not rotated


def test_a_weak_bootstrap_key_is_refused_and_a_strong_one_retires_itself(settings: DragnetSettings) -> None:
    with pytest.raises(ConfigError, match="at least 32"):
        load_settings(paths=settings.paths, api={"bootstrap_admin_key": "admin"})
    boot = load_settings(paths=settings.paths, api={"bootstrap_admin_key": BOOT})
    use_settings(boot)
    keys = KeyStore(boot)
    first = keys.authenticate(BOOT)
    assert first is not None and first.role == "admin"
    keys.create_key("root", "analyst")
    assert keys.authenticate(BOOT) is not None  # an analyst key does not retire it
    admin_key = keys.create_key("root", "admin")
    assert keys.authenticate(BOOT) is None  # a real admin exists: the key from the config file is retired
    assert keys.authenticate(admin_key) is not None


def test_admins_manage_keys_through_the_api_and_every_step_is_audited(api_env: ApiEnv) -> None:
    admin = api_env.client(api_env.admin)
    listed = admin.get("/api/keys")
    assert listed.status_code == 200
    by_name = {entry["name"]: entry for entry in listed.json()}
    assert {"alice", "chirp", "root", "ops"} <= set(by_name) and "key" not in by_name["alice"]
    assert api_env.client(api_env.analyst).get("/api/keys").status_code == 403
    alice = by_name["alice"]["key_id"]
    rotated = admin.post(f"/api/keys/{alice}/rotate")
    assert rotated.status_code == 201 and rotated.json()["role"] == "analyst"
    assert api_env.client(api_env.analyst).get("/api/search").status_code == 401
    fresh = rotated.json()["key"]
    assert api_env.client(fresh).get("/api/search").status_code == 200
    fresh_id = fresh.split("_")[1]
    assert admin.delete(f"/api/keys/{fresh_id}").status_code == 204
    assert api_env.client(fresh).get("/api/search").status_code == 401
    assert admin.delete(f"/api/keys/{fresh_id}").status_code == 404
    actions = [entry["action"] for entry in admin.get("/api/audit", params={"limit": 50}).json()]
    assert {"keys.list", "keys.rotate", "keys.revoke"} <= set(actions)


def test_reads_of_evidence_and_notices_outbound_actions_and_failed_logins_are_audited(api_env: ApiEnv) -> None:
    analyst = api_env.client(api_env.analyst)
    listing_id = analyst.get("/api/search", params={"size": 1}).json()["hits"][0]["listing"]["id"]
    analyst.get(f"/api/listings/{listing_id}/screenshot")
    analyst.get("/feeds/telegram/notices")
    api_env.client("dn_0123456789abcdef_" + "x" * 43).get("/api/search")
    api_env.client().post("/login", data={"key": "guess"})
    api_env.client(api_env.operator).post("/feeds/telegram/deliver")
    entries = api_env.client(api_env.admin).get("/api/audit", params={"limit": 100}).json()
    actions = {entry["action"] for entry in entries}
    assert {"feeds.notices", "auth.failed", "feeds.deliver"} <= actions
    failed = [entry["query"] for entry in entries if entry["action"] == "auth.failed"]
    assert any("key_id=0123456789abcdef" in query for query in failed) and any("/login" in q for q in failed)
    assert all("x" * 20 not in entry["query"] for entry in entries)  # never the key itself


def test_the_browser_holds_a_session_token_never_the_key_and_it_dies_with_the_key(api_env: ApiEnv) -> None:
    browser = api_env.client()
    login = browser.post("/login", data={"key": api_env.analyst, "next": "/search"}, follow_redirects=False)
    assert login.status_code == 303
    token = browser.cookies.get("dragnet_key")
    assert token and token != api_env.analyst and api_env.analyst.split("_")[2] not in token
    assert browser.get("/api/search").status_code == 200  # the session authenticates the API too
    stored = sqlite3.connect(db.db_path(api_env.settings)).execute("SELECT * FROM ui_sessions").fetchall()
    assert token not in repr(stored)  # only its hash is kept
    browser.post("/logout", follow_redirects=False)
    browser.cookies.set("dragnet_key", token)
    assert browser.get("/api/search").status_code == 401  # logged out on the server, not just in the browser
    again = api_env.client()
    again.post("/login", data={"key": api_env.analyst}, follow_redirects=False)
    assert again.get("/api/search").status_code == 200
    alice = KeyStore(api_env.settings).authenticate(api_env.analyst)
    assert alice is not None and KeyStore(api_env.settings).revoke(alice.key_id)
    assert again.get("/api/search").status_code == 401  # revoking the key ends its sessions
