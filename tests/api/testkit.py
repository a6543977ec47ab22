"""Helpers shared by the API and browser tests (imported as a plain module: a unique name, so
it never clashes with another area's conftest)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from fastapi.testclient import TestClient

from api.app import create_app
from dragnet.documents import Contact
from dragnet.settings import DragnetSettings
from index.store import ListingStore
from index.synthetic import corpus, make_listing

XSS_TITLE = '<script>window.__pwned = 1</script><img src=x onerror="window.__pwned = 2"> oxycodone'


@dataclass
class ApiEnv:
    settings: DragnetSettings
    store: ListingStore
    analyst: str
    platform: str
    admin: str
    operator: str

    def client(self, key: str | None = None) -> TestClient:
        client = TestClient(create_app(self.settings, store=self.store))
        if key:
            client.headers["X-API-Key"] = key
        return client


def fill(store: ListingStore) -> None:
    listings = corpus(40) + [
        make_listing(
            200,
            title=XSS_TITLE,
            text='buy <b>now</b> <iframe src="http://evil.example"></iframe> oxycodone pills',
            vendor="xss_vendor",
            market="alpha",
        ),
        make_listing(
            201, vendor="xss_vendor", market="alpha", contacts=[Contact(kind="telegram", handle="@tele_dealer")]
        ),
        make_listing(
            202, vendor="other_name", market="bravo", contacts=[Contact(kind="telegram", handle="tele_dealer")]
        ),
    ]
    store.upsert(listings)
    store.refresh()


@dataclass
class WebhookReceiver:
    url: str
    received: list[dict] = field(default_factory=list)
    raw: list[tuple[dict[str, str], bytes]] = field(default_factory=list)  # headers and body as received
    status: int = 200

    def wait_for(self, count: int, timeout_s: float = 10.0) -> list[dict]:
        deadline = time.monotonic() + timeout_s
        while len(self.received) < count and time.monotonic() < deadline:
            time.sleep(0.05)
        return self.received
