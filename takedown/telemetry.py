"""Prometheus counters for the feeds (created on first use, like the workers' metrics, so that a
worker can set up multiprocess mode before any counter exists).  Labels are bounded: platform
names come from the registry, outcomes from fixed sets."""

from __future__ import annotations

from typing import Any

from prometheus_client import Counter

from takedown.notices import TRANSITIONS

_counters: dict[str, Any] | None = None


def counters() -> dict[str, Any]:
    global _counters
    if _counters is None:
        _counters = {
            "notices": Counter(
                "dragnet_feed_notices_total",
                "Notices by ingest outcome (created, updated, duplicate, auto_approved).",
                ["platform", "outcome"],
            ),
            "transitions": Counter(
                "dragnet_feed_transitions_total", "Workflow transitions by new status.", ["platform", "status"]
            ),
            "deliveries": Counter(
                "dragnet_feed_deliveries_total",
                "Webhook attempts and first-time pulls by outcome.",
                ["platform", "channel", "outcome"],
            ),
            "recrawls": Counter(
                "dragnet_feed_recrawls_total",
                "Removal re-crawls by outcome (present, gone, unknown).",
                ["platform", "outcome"],
            ),
        }
    return _counters


def count(name: str, amount: float = 1, **labels: str) -> None:
    """Increment a counter; telemetry never breaks the workflow."""
    try:
        counters()[name].labels(**labels).inc(amount)
    except Exception:  # noqa: BLE001 - telemetry never breaks the workflow
        pass


# Every label value known in advance, so each series exists (at zero) from the first scrape.
KNOWN: dict[str, dict[str, tuple[str, ...]]] = {
    "notices": {"outcome": ("created", "updated", "duplicate", "auto_approved")},
    "transitions": {"status": tuple(sorted(set().union(*TRANSITIONS.values())))},
    "deliveries": {"channel": ("pull", "webhook"), "outcome": ("ok", "failed")},
    "recrawls": {"outcome": ("present", "gone", "unknown")},
}


def prime(platforms: list[str]) -> None:
    """Create every known series of every platform at zero (``rate()`` works from the first
    scrape instead of from the first event)."""
    for name, labels in KNOWN.items():
        counter = counters()[name]
        for platform in platforms:
            combos: list[dict[str, str]] = [{}]
            for label, values in labels.items():
                combos = [combo | {label: value} for combo in combos for value in values]
            for combo in combos:
                counter.labels(platform=platform, **combo)
