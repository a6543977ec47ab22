"""Webhooks connect to the address they checked: DNS rebinding between registration and
delivery is refused, the connection is pinned to one answer, and a platform cannot read the
target's answers through its delivery log."""

from __future__ import annotations

import socket
from collections.abc import Callable
from typing import Any

import pytest

from dragnet.outbound import WebhookURLError, check_url, pinned_client
from dragnet.settings import DragnetSettings
from takedown.delivery import deliver_pending, subscribe
from takedown.service import FeedService
from tests.takedown.helpers import FakePlatform, make_hit

_real_getaddrinfo = socket.getaddrinfo


def _hostile_dns(answers: list[str]) -> Callable[..., Any]:
    """A resolver that answers ``rebind.test`` with the next address of ``answers`` each time,
    the way an attacker's DNS server with a zero TTL does; anything else resolves normally."""

    def resolve(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        if host == "rebind.test":
            address = answers.pop(0) if len(answers) > 1 else answers[0]
            return _real_getaddrinfo(address, port, *args, **kwargs)
        return _real_getaddrinfo(host, port, *args, **kwargs)

    return resolve


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1/hook",
        "http://2130706433/hook",
        "http://0x7f000001/hook",
        "http://127.1/hook",
        "http://[::1]/hook",
        "http://[::ffff:127.0.0.1]/hook",
        "http://localhost/hook",
        "http://169.254.169.254/latest/meta-data",
        "http://10.0.0.1/hook",
    ],
)
def test_every_notation_of_a_private_address_is_refused(url: str) -> None:
    with pytest.raises(WebhookURLError, match="non-public"):
        check_url(url, allow_private=False)


def test_a_name_rebound_to_loopback_after_registration_gets_nothing(
    feed_settings: DragnetSettings, fake_platform: FakePlatform, monkeypatch: pytest.MonkeyPatch
) -> None:
    strict = feed_settings.model_copy(
        update={"feeds": feed_settings.feeds.model_copy(update={"webhook_allow_private": False})}
    )
    service = FeedService(strict)
    ids = service.ingest([make_hit("https://fakegram.test/p/R1", "xanax bars")], bundles=False).created
    service.review(ids[0], "approve", by="analyst:ann")
    # registration: the name answers a public address; delivery: it answers loopback
    monkeypatch.setattr(socket, "getaddrinfo", _hostile_dns(["93.184.216.34", "127.0.0.1"]))
    subscribe(service, "fakegram", f"http://rebind.test:{fake_platform.port}/hook")
    assert deliver_pending("fakegram", strict, service) == 0
    assert fake_platform.events == [] and fake_platform.verdicts == []  # not one byte reached loopback
    (entry,) = service.store.deliveries("fakegram")
    assert not entry.ok and "non-public" in (entry.error or "")


def test_the_connection_goes_to_the_address_that_was_checked(
    fake_platform: FakePlatform, monkeypatch: pytest.MonkeyPatch
) -> None:
    # first answer loopback (allowed here), then an address where nothing listens
    monkeypatch.setattr(socket, "getaddrinfo", _hostile_dns(["127.0.0.1", "127.0.0.2"]))
    target = check_url(f"http://rebind.test:{fake_platform.port}/hook", allow_private=True)
    assert target.address == "127.0.0.1"
    with pinned_client(target, 5) as client:
        response = client.post(target.url, content=b"{}")
    assert response.status_code in (200, 401)  # the fake platform answered: pinned to the first answer
    with pinned_client(target, 5) as client, pytest.raises(Exception, match="not the checked webhook target"):
        client.get(f"http://127.0.0.1:{fake_platform.port}/hook")


def test_the_delivery_log_keeps_the_status_not_the_targets_answer(
    feed_settings: DragnetSettings, fake_platform: FakePlatform
) -> None:
    service = FeedService(feed_settings)
    ids = service.ingest([make_hit("https://fakegram.test/p/B1", "xanax bars")], bundles=False).created
    service.review(ids[0], "approve", by="analyst:ann")
    subscribe(service, "fakegram", f"http://127.0.0.1:{fake_platform.port}/hook")
    fake_platform.secret = "not the one we sent"  # the platform answers 401 with a body
    assert deliver_pending("fakegram", feed_settings, service) == 0
    errors = [entry.error for entry in service.store.deliveries("fakegram")]
    assert errors and all(error == "HTTP 401" for error in errors)
