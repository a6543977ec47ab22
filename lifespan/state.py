"""The market state machine and the probe schedule.

    new -> active <-> degraded -> down -> seized | exit_scam | retired
                  ^__________________|        (and back to active when a down market, or a
                                               *suspected* closure, answers again)

A confirmed closure (and a seizure proven by banner text) is sticky: a later answer at its address
is recorded as an ``answered_after_closure`` signal (a possible relaunch) for an analyst, who may
reject the closure (see :meth:`LifespanStore.reject_change`).  Complaints and withdrawal freezes
count only within the current episode: signals seen before the last recovery are ignored.

Every transition is stored with the evidence that caused it.  Seizure is read from the seizure
page itself: banner text; a known banner image on a banner-like page without the text is only a
suspected seizure, and near-uniform images never match.  Exit-scam is inferred from signals: withdrawals
disabled on the site, or a run of complaints, followed by a prolonged outage, and is always
``suspected`` until an analyst confirms it; so is automatic retirement (a long silent outage).

Scheduling follows FreshOnions: a reachable market is probed every ``probe_interval_s``; a failing
one with exponential back-off (interval x 2^(failures-1), capped at ``backoff_max_s``), so dead
sites cost little while a returning one is still noticed.
"""

from __future__ import annotations

from typing import Any

from dragnet.settings import LifespanSettings
from lifespan.models import (
    TERMINAL_STATES,
    Market,
    MarketState,
    ProbeResult,
    ProbeStatus,
    StateChange,
)
from lifespan.store import LifespanStore


def next_probe_delay(settings: LifespanSettings, consecutive_failures: int, state: MarketState) -> float:
    """Seconds to the next probe: the interval when up, exponential back-off when failing."""
    if state == MarketState.SEIZED:
        return settings.backoff_max_s
    if consecutive_failures <= 0:
        return settings.probe_interval_s
    return min(settings.probe_interval_s * (2 ** (consecutive_failures - 1)), settings.backoff_max_s)


def _probe_evidence(result: ProbeResult) -> dict[str, Any]:
    evidence: dict[str, Any] = {"probe_at": result.at, "url": result.url, "status": result.status.value}
    for key in ("down_kind", "http_status", "latency_ms", "error", "content_sha256", "title", "reprobed"):
        value = getattr(result, key)
        if value not in (None, False):
            evidence[key] = value.value if hasattr(value, "value") else value
    return evidence


class StateMachine:
    """Applies one probe result to a market: schedule, first/last seen, transitions."""

    def __init__(self, store: LifespanStore, settings: LifespanSettings) -> None:
        self.store = store
        self.settings = settings

    def _transition(
        self, market: Market, to: MarketState, at: float, reason: str, evidence: dict[str, Any], suspected: bool = False
    ) -> StateChange:
        change = StateChange(
            market_id=market.market_id,
            at=at,
            from_state=market.state,
            to_state=to,
            reason=reason,
            evidence=evidence,
            suspected=suspected,
        )
        self.store.add_state_change(change)
        market.state = to
        market.state_since = at
        market.suspected = suspected
        return change

    def apply(self, market: Market, result: ProbeResult) -> list[StateChange]:
        """Update ``market`` in the store from ``result``; returns the transitions made."""
        s = self.settings
        now = result.at
        changes: list[StateChange] = []
        evidence = _probe_evidence(result)
        market.last_probe_at = now
        if market.first_probe_at is None:
            market.first_probe_at = now

        if result.status == ProbeStatus.SEIZED:
            market.consecutive_failures = 0
            market.failing_since = None
            if market.state != MarketState.SEIZED:
                seizure = {
                    **evidence,
                    **{
                        k: v
                        for k, v in result.evidence.items()
                        if k in {"seizure_phrases", "seizure_agencies", "images", "image_matches", "corroborated"}
                    },
                }
                corroborated = bool(result.evidence.get("corroborated", True))
                reason = (
                    "seizure banner served at the market's address"
                    if corroborated
                    else "suspected seizure: a known banner image without banner text or agency"
                )
                changes.append(
                    self._transition(market, MarketState.SEIZED, now, reason, seizure, suspected=not corroborated)
                )
        elif result.reachable:
            outage = (now - market.failing_since) if market.failing_since is not None else None
            market.consecutive_failures = 0
            market.failing_since = None
            slow = result.latency_ms is not None and result.latency_ms > s.degraded_latency_s * 1000
            stands = self._closure_stands(market)
            if stands:
                # A confirmed (or banner-proven) closure is not undone by an answer at the address:
                # a relaunch, a scam page or a new owner is for an analyst to judge.
                self._answered_after_closure(market, result, outage)
            elif market.state == MarketState.SEIZED:  # a suspected (image-only) seizure, disproved
                ev = {**evidence, "outage_s": outage, "previous_state": market.state.value}
                changes.append(
                    self._transition(market, MarketState.ACTIVE, now, "reachable again after a suspected seizure", ev)
                )
            if not stands:
                if market.first_seen is None:
                    market.first_seen = now
                market.last_seen = now
            if market.state == MarketState.NEW:
                changes.append(self._transition(market, MarketState.ACTIVE, now, "first reachable probe", evidence))
            elif market.state in {MarketState.DOWN, MarketState.RETIRED, MarketState.EXIT_SCAM} and not stands:
                ev = {**evidence, "outage_s": outage, "previous_state": market.state.value}
                changes.append(
                    self._transition(market, MarketState.ACTIVE, now, f"reachable again after {market.state.value}", ev)
                )
            elif market.state == MarketState.DEGRADED and not slow:
                changes.append(self._transition(market, MarketState.ACTIVE, now, "probes healthy again", evidence))
            if market.state == MarketState.ACTIVE and slow:
                changes.append(
                    self._transition(
                        market,
                        MarketState.DEGRADED,
                        now,
                        f"latency {result.latency_ms:.0f} ms above {s.degraded_latency_s:.0f} s",
                        evidence,
                    )
                )
            if result.evidence.get("withdrawals_disabled"):
                self.store.add_signal(
                    market.market_id,
                    "withdrawals_disabled",
                    source=result.url,
                    detail="; ".join(result.evidence["withdrawals_disabled"]),
                    at=now,
                )
            if result.status == ProbeStatus.GATE and result.evidence.get("gate_markers"):
                pass  # a gate is a live market behind anti-DDoS; nothing to change
        else:
            market.consecutive_failures += 1
            if market.failing_since is None:
                market.failing_since = now
            outage = now - market.failing_since
            ev = {**evidence, "consecutive_failures": market.consecutive_failures, "outage_s": outage}
            if market.state in {MarketState.NEW, MarketState.ACTIVE, MarketState.DEGRADED}:
                if market.consecutive_failures >= s.down_after_failures:
                    changes.append(
                        self._transition(
                            market,
                            MarketState.DOWN,
                            now,
                            f"{market.consecutive_failures} consecutive failed probes",
                            ev,
                        )
                    )
                elif market.state == MarketState.ACTIVE:
                    changes.append(
                        self._transition(
                            market, MarketState.DEGRADED, now, f"probe failed ({ev.get('down_kind', 'unknown')})", ev
                        )
                    )
            if market.state == MarketState.DOWN:
                changes.extend(self._closure_rules(market, now, outage, ev))

        delay = next_probe_delay(s, market.consecutive_failures, market.state)
        market.next_probe_at = now + delay
        self.store.update_market(
            market.market_id,
            state=market.state,
            state_since=market.state_since,
            suspected=market.suspected,
            first_seen=market.first_seen,
            last_seen=market.last_seen,
            first_probe_at=market.first_probe_at,
            last_probe_at=market.last_probe_at,
            consecutive_failures=market.consecutive_failures,
            failing_since=market.failing_since,
            next_probe_at=market.next_probe_at,
        )
        return changes

    def _closure_stands(self, market: Market) -> bool:
        """The market is closed for good: a seizure proven by its banner, or a closure an analyst
        confirmed.  Suspected closures (and ``down``) still end when the market answers."""
        if market.state not in TERMINAL_STATES or market.suspected:
            return False
        if market.state == MarketState.SEIZED:
            return True
        last = self.store.current_change(market.market_id)
        return last is not None and last.to_state == market.state and last.confirmed_by is not None

    def _answered_after_closure(self, market: Market, result: ProbeResult, outage: float | None) -> None:
        """Record, once per closure, that the address answers again: a possible relaunch."""
        since = market.state_since or 0.0
        if self.store.signals(market.market_id, "answered_after_closure", since=since):
            return
        self.store.add_signal(
            market.market_id,
            "answered_after_closure",
            source=result.url,
            detail=(
                f"{result.status.value} while {market.state.value} (closure stands; a possible relaunch "
                f"for an analyst){f', after {outage / 86400:.1f} days of failures' if outage else ''}"
            ),
            at=result.at,
        )

    def _episode_start(self, market: Market) -> float:
        """When the market last recovered from an outage or closure (0: never)."""
        recovered = [
            c.at
            for c in self.store.state_changes(market.market_id)
            if c.to_state == MarketState.ACTIVE
            and c.from_state in {MarketState.DOWN, MarketState.SEIZED, MarketState.EXIT_SCAM, MarketState.RETIRED}
        ]
        return max(recovered, default=0.0)

    def _closure_rules(self, market: Market, now: float, outage: float, ev: dict[str, Any]) -> list[StateChange]:
        """A down market becomes a suspected exit-scam or a suspected retirement with time."""
        s = self.settings
        assert market.failing_since is not None
        # Signals belong to the current episode: those seen before the market last recovered from
        # an outage were answered by that recovery and must not make the next outage a scam.
        window_start = max(market.failing_since - s.complaint_window_s, self._episode_start(market))
        complaints = self.store.signals(market.market_id, "complaint", since=window_start)
        withdrawals = self.store.signals(market.market_id, "withdrawals_disabled", since=window_start)
        if outage >= s.exit_scam_outage_s and (len(complaints) >= s.exit_scam_min_complaints or withdrawals):
            reasons = []
            if withdrawals:
                reasons.append("withdrawals disabled before the outage")
            if len(complaints) >= s.exit_scam_min_complaints:
                reasons.append(f"{len(complaints)} complaints before the outage")
            evidence = {**ev, "complaints": complaints[-20:], "withdrawals_disabled": withdrawals[-20:]}
            return [
                self._transition(
                    market,
                    MarketState.EXIT_SCAM,
                    now,
                    f"suspected exit scam: {', '.join(reasons)}, then {outage / 86400:.1f} days down",
                    evidence,
                    suspected=True,
                )
            ]
        if outage >= s.retire_after_s:
            return [
                self._transition(
                    market,
                    MarketState.RETIRED,
                    now,
                    f"down {outage / 86400:.1f} days without seizure or scam signals",
                    ev,
                    suspected=True,
                )
            ]
        return []


def is_terminal(state: MarketState) -> bool:
    return state in TERMINAL_STATES
