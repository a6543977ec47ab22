"""Typed records of the lifespan part: probe results, markets, mirrors, state changes.

They are pydantic models so that Celery can ship a :class:`ProbeResult` as JSON and the API can
return them unchanged.
"""

from __future__ import annotations

from enum import Enum
from typing import Any

from pydantic import BaseModel, Field


class ProbeStatus(str, Enum):
    """What one probe saw.  ``gate`` and ``login`` are reachable sites behind a wall."""

    UP = "up"
    DOWN = "down"
    GATE = "gate"
    LOGIN = "login"
    SEIZED = "seized"


class DownKind(str, Enum):
    """Why a probe failed, in Tor's terms (a missing descriptor is not a refused connection)."""

    DESCRIPTOR_NOT_FOUND = "descriptor_not_found"
    CONNECTION_FAILED = "connection_failed"
    TIMEOUT = "timeout"
    HTTP_ERROR = "http_error"


class MarketState(str, Enum):
    """The market's life: ``new`` until the first probe, then the state machine of DESIGN.md."""

    NEW = "new"
    ACTIVE = "active"
    DEGRADED = "degraded"
    DOWN = "down"
    SEIZED = "seized"
    EXIT_SCAM = "exit_scam"
    RETIRED = "retired"


TERMINAL_STATES = frozenset({MarketState.SEIZED, MarketState.EXIT_SCAM, MarketState.RETIRED})
REACHABLE = frozenset({ProbeStatus.UP, ProbeStatus.GATE, ProbeStatus.LOGIN})


class ProbeResult(BaseModel):
    """One probe of one market (possibly after an immediate re-probe at another path)."""

    market_id: str
    url: str
    host: str
    at: float  # epoch seconds, UTC
    status: ProbeStatus
    down_kind: DownKind | None = None
    http_status: int | None = None
    latency_ms: float | None = None
    error: str | None = None
    title: str | None = None
    content_sha256: str | None = None
    simhash: str | None = None  # 64-bit hex fingerprint of the page text, for clone detection
    reprobed: bool = False  # a newly failed site was re-probed at once at another path
    attempts: list[dict[str, Any]] = Field(default_factory=list)
    evidence: dict[str, Any] = Field(default_factory=dict)
    state: MarketState | None = None  # the market's state after this probe
    next_probe_at: float | None = None

    @property
    def reachable(self) -> bool:
        return self.status in REACHABLE


class Mirror(BaseModel):
    """A known address of a market and where we learned it."""

    market_id: str
    host: str
    source: str  # profile, signed, discovered, import
    verified: bool = False  # listed in a valid signed mirrors.txt
    phishing: bool = False  # a clone not in the signed list
    first_seen: float
    last_seen: float
    note: str | None = None


class StateChange(BaseModel):
    """One transition of the state machine, with the evidence that caused it."""

    id: int | None = None  # the store's row id: what analysts confirm, reject or undo
    market_id: str
    at: float
    from_state: MarketState
    to_state: MarketState
    reason: str
    evidence: dict[str, Any] = Field(default_factory=dict)
    suspected: bool = False  # exit-scam (and automatic retirement) until an analyst confirms
    confirmed_by: str | None = None
    confirmed_at: float | None = None


class Market(BaseModel):
    """A marketplace with its current state and scheduling."""

    market_id: str
    name: str
    primary_host: str | None = None
    start_path: str = "/"
    state: MarketState = MarketState.NEW
    state_since: float | None = None
    suspected: bool = False
    first_seen: float | None = None  # first reachable probe (or imported start)
    last_seen: float | None = None  # last reachable probe (or imported end)
    first_probe_at: float | None = None
    last_probe_at: float | None = None
    consecutive_failures: int = 0
    failing_since: float | None = None
    next_probe_at: float | None = None
    source: str = "registry"
    markers: dict[str, list[str]] = Field(default_factory=dict)  # gate/login markers from profiles
