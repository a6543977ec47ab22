"""API keys, roles and the audit log (no server needed: a small FastAPI app with TestClient)."""

from __future__ import annotations

import sqlite3

import pytest
from fastapi import Depends, FastAPI
from fastapi.testclient import TestClient

from api import audit, db
from api.auth import KeyStore, Principal
from api.deps import require_roles
from dragnet.settings import DragnetSettings, load_settings


@pytest.fixture
def app(settings: DragnetSettings) -> FastAPI:
    app = FastAPI()
    app.state.settings = settings

    @app.get("/analyst")
    def analyst(p: Principal = Depends(require_roles("analyst"))) -> dict:
        return {"who": p.name, "role": p.role}

    @app.get("/feed")
    def feed(p: Principal = Depends(require_roles("platform"))) -> dict:
        return {"platform": p.platform}

    return app


def test_keys_are_stored_hashed_and_authenticate(settings: DragnetSettings) -> None:
    keys = KeyStore(settings)
    key = keys.create_key("alice", "analyst")
    principal = keys.authenticate(key)
    assert principal is not None and principal.role == "analyst" and principal.name == "alice"
    raw = sqlite3.connect(db.db_path(settings)).execute("SELECT * FROM api_keys").fetchall()
    assert key not in repr(raw) and key.split("_", 2)[2] not in repr(raw)
    assert keys.authenticate(key[:-1] + ("A" if key[-1] != "A" else "B")) is None
    assert keys.authenticate("") is None and keys.authenticate("nonsense") is None
    assert keys.revoke(principal.key_id)
    assert keys.authenticate(key) is None
    with pytest.raises(ValueError):
        keys.create_key("x", "superuser")


def test_roles_401_403(app: FastAPI, settings: DragnetSettings) -> None:
    keys = KeyStore(settings)
    analyst = keys.create_key("alice", "analyst")
    platform = keys.create_key("chirp trust & safety", "platform:chirp")
    admin = keys.create_key("root", "admin")
    client = TestClient(app)
    assert client.get("/analyst").status_code == 401
    assert client.get("/analyst", headers={"X-API-Key": "dn_0000000000000000_" + "a" * 43}).status_code == 401
    assert client.get("/analyst", headers={"X-API-Key": platform}).status_code == 403
    assert client.get("/analyst", headers={"X-API-Key": analyst}).json() == {"who": "alice", "role": "analyst"}
    assert client.get("/analyst", headers={"Authorization": f"Bearer {admin}"}).status_code == 200
    assert client.get("/feed", headers={"X-API-Key": platform}).json() == {"platform": "chirp"}
    assert client.get("/feed", headers={"X-API-Key": analyst}).status_code == 403


def test_bootstrap_admin(app: FastAPI, settings: DragnetSettings) -> None:
    boot = load_settings(paths=settings.paths, api={"bootstrap_admin_key": "let-me-in-0123456789-0123456789-0123"})
    app.state.settings = boot
    client = TestClient(app)
    assert (
        client.get("/analyst", headers={"X-API-Key": "let-me-in-0123456789-0123456789-0123"}).json()["role"] == "admin"
    )
    assert client.get("/analyst", headers={"X-API-Key": "let-me-in"}).status_code == 401


def test_audit_record_and_search(settings: DragnetSettings) -> None:
    alice = Principal("k1", "alice", "analyst")
    bob = Principal("k2", "bob", "analyst")
    audit.record(alice, "search", "text=fentanyl market=alpha", 12, settings=settings)
    audit.record(bob, "export", "text=kush format=csv", 3, settings=settings)
    entries = audit.search_audit(settings=settings)
    assert [(e.who, e.action, e.result_count) for e in entries] == [("bob", "export", 3), ("alice", "search", 12)]
    assert [e.who for e in audit.search_audit(text="FENTANYL", settings=settings)] == ["alice"]
    assert [e.who for e in audit.search_audit(action="export", settings=settings)] == ["bob"]
