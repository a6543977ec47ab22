"""Fixtures of the lifespan tests: a store in the per-test data dir, a controllable clock,
simulated markets behind the session's SOCKS5 proxy, and a prober wired to both."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from dragnet.settings import DragnetSettings
from lifespan.store import LifespanStore
from tests.lifespan.sim import SimMarket


class Clock:
    """Epoch seconds that only move when the test says so."""

    def __init__(self, start: float = 1_780_000_000.0) -> None:
        self.t = start

    def __call__(self) -> float:
        return self.t

    def advance(self, seconds: float) -> float:
        self.t += seconds
        return self.t


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def lifespan_settings(settings: DragnetSettings) -> DragnetSettings:
    """Short probe timeout so that the timeout case costs about a second."""
    ls = settings.lifespan.model_copy(
        update={"probe_timeout_s": 1.0, "probe_interval_s": 3600.0, "backoff_max_s": 86400.0, "down_after_failures": 3}
    )
    return settings.model_copy(update={"lifespan": ls})


@pytest.fixture
def store(lifespan_settings: DragnetSettings) -> Iterator[LifespanStore]:
    s = LifespanStore(settings=lifespan_settings)
    yield s
    s.close()


@pytest.fixture
def sim_market(socks_proxy) -> Iterator[Callable[[str], SimMarket]]:
    """Factory: ``sim_market("Name")`` starts a market and maps its onion name in the proxy."""
    started: list[SimMarket] = []

    def make(name: str) -> SimMarket:
        market = SimMarket(name).start()
        socks_proxy.add(market.host, ("127.0.0.1", market.port))
        started.append(market)
        return market

    yield make
    for market in started:
        socks_proxy.remove(market.host)
        market.stop()
