"""Fixtures for the API and browser tests: a store filled with synthetic listings, keys of each
role, a local webhook receiver, and a live uvicorn server for Chromium."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import uvicorn

from api.app import create_app
from api.auth import KeyStore
from dragnet.services.process import free_port
from dragnet.settings import DragnetSettings
from index.factory import open_store
from tests.api.testkit import ApiEnv, WebhookReceiver, fill


@pytest.fixture
def api_env(settings: DragnetSettings) -> Iterator[ApiEnv]:
    store = open_store(settings)
    fill(store)
    keys = KeyStore(settings)
    env = ApiEnv(
        settings,
        store,
        keys.create_key("alice", "analyst"),
        keys.create_key("chirp", "platform:chirp"),
        keys.create_key("root", "admin"),
        keys.create_key("ops", "operator"),
    )
    yield env
    store.close()


@pytest.fixture
def webhook() -> Iterator[WebhookReceiver]:
    """A real HTTP server on loopback that records the JSON bodies POSTed to it."""
    port = free_port()
    receiver = WebhookReceiver(url=f"http://127.0.0.1:{port}/hook")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            if receiver.status < 300:
                receiver.received.append(json.loads(body))
                receiver.raw.append((dict(self.headers.items()), body))
            self.send_response(receiver.status)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield receiver
    server.shutdown()
    server.server_close()


@pytest.fixture
def live_server(api_env: ApiEnv) -> Iterator[str]:
    """The real app under uvicorn on a free loopback port."""
    port = free_port()
    config = uvicorn.Config(
        create_app(api_env.settings, store=api_env.store),
        host="127.0.0.1",
        port=port,
        log_level="warning",
        lifespan="on",
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    assert server.started, "uvicorn did not start"
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)
