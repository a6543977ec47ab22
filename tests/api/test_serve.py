"""``dragnet serve`` and ``dragnet keys`` as an operator runs them: a real process on a free port."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from dragnet.services.process import free_port

pytestmark = pytest.mark.integration


def test_serve_and_keys(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DRAGNET_")}
    env.update(
        DRAGNET_PATHS__DATA_DIR=str(tmp_path / "data"),
        DRAGNET_API__BOOTSTRAP_ADMIN_KEY="bootstrap-admin-key-for-tests-0123456789",
    )
    dragnet = (
        [sys.executable, "-m", "dragnet.cli"]
        if not Path(sys.executable).with_name("dragnet").exists()
        else [str(Path(sys.executable).with_name("dragnet"))]
    )
    made = subprocess.run(
        [*dragnet, "keys", "create", "alice", "--role", "analyst"], env=env, capture_output=True, text=True, timeout=60
    )
    assert made.returncode == 0, made.stderr
    key = made.stdout.strip()
    assert key.startswith("dn_")
    bad = subprocess.run(
        [*dragnet, "keys", "create", "eve", "--role", "root"], env=env, capture_output=True, text=True, timeout=60
    )
    assert bad.returncode == 2 and "unknown role" in bad.stderr
    port = free_port()
    server = subprocess.Popen(
        [*dragnet, "serve", "--host", "127.0.0.1", "--port", str(port), "--no-alerts"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.2)
        else:
            pytest.fail("dragnet serve did not answer")
        assert httpx.get(f"{base}/api/search").status_code == 401
        assert httpx.get(f"{base}/api/search", headers={"X-API-Key": key}).json()["total"] == 0
        admin = {"X-API-Key": "bootstrap-admin-key-for-tests-0123456789"}
        assert [e["who"] for e in httpx.get(f"{base}/api/audit", headers=admin).json()] == ["alice"]
        assert httpx.get(f"{base}/openapi.json").json()["info"]["title"] == "Dragnet"
    finally:
        server.terminate()
        server.wait(timeout=20)
