"""The in-flight ledger against a real Redis: what is filed, touched, settled and handed out again."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
import redis

from dragnet.settings import DragnetSettings
from tests.workers.conftest import make_listings
from workers.ledger import InflightLedger, ledger_key, stale_after_s

pytestmark = pytest.mark.integration


@pytest.fixture
def ledger(settings: DragnetSettings, redis_server: Any) -> Any:
    url = f"redis://127.0.0.1:{redis_server.port}/15"
    redis.Redis.from_url(url).flushdb()
    update = {"redis": settings.redis.model_copy(update={"url": url})}
    book = InflightLedger(settings.model_copy(update=update))
    yield book
    book.client.flushdb()
    book.close()


def _age(book: InflightLedger, keys: list[str], seconds: float) -> None:
    """Pretend these entries were last touched ``seconds`` ago."""
    book.client.zadd(book.touched_key, dict.fromkeys(keys, time.time() - seconds))


def test_the_key_is_the_version_of_a_listing_and_malformed_items_have_none() -> None:
    listing = make_listings(1, "lk")[0]
    assert ledger_key(listing.model_dump(mode="json")) == listing.doc_id
    for malformed in ({"id": "x"}, "text", {"id": 3, "content_sha256": "a"}):
        assert ledger_key(malformed) is None


def test_filed_items_are_settled_by_the_index_stage_and_touches_do_not_resurrect_them(ledger: InflightLedger) -> None:
    payloads = [item.model_dump(mode="json") for item in make_listings(5, "settle")]
    assert ledger.record(payloads + [{"garbage": True}]) == 5
    assert ledger.size() == 5
    ledger.settle(payloads[:3])
    assert ledger.size() == 2
    ledger.touch(payloads)  # a late retry of settled items must not file them again
    assert ledger.size() == 2
    assert set(ledger.client.hkeys(ledger.items_key)) == {ledger_key(p).encode() for p in payloads[3:]}  # type: ignore[union-attr]


def test_only_untouched_entries_come_back_and_never_while_a_pipeline_queue_holds_messages(
    ledger: InflightLedger,
) -> None:
    payloads = [item.model_dump(mode="json") for item in make_listings(4, "stale")]
    ledger.record(payloads)
    keys = [ledger_key(p) or "" for p in payloads]
    period = stale_after_s(ledger.settings)
    assert ledger.take_stale() == []  # just filed: in flight, not lost
    _age(ledger, keys[:2], period + 1)
    ledger.touch(payloads[1:2])  # a worker picked this one up again
    ledger.client.lpush("classify", json.dumps({"body": "a queued batch"}))
    assert ledger.take_stale() == []  # a backlog is waiting: old entries may be in it
    ledger.client.delete("classify")
    again = ledger.take_stale()
    assert [ledger_key(p) for p in again] == [keys[0]]
    assert again[0] == payloads[0]
    assert ledger.take_stale() == []  # handed out once per period: its clock restarted
    assert ledger.size() == 4
