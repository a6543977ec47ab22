"""Prometheus counters for the feeds (created on first use, like the workers' metrics, so that a
worker can set up multiprocess mode before any counter exists).  Labels are bounded: platform
names come from the registry, outcomes from fixed sets."""

from __future__ import annotations

from typing import Any

from prometheus_client import Counter

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
