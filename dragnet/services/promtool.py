"""Debian's ``promtool`` (package ``prometheus``): checks Prometheus exposition text and rule
files, so the metrics Dragnet exports and the alerts shipped in ``docker/prometheus`` are
validated by Prometheus's own parser rather than by a re-implementation of it."""

from __future__ import annotations

import subprocess
from pathlib import Path

from dragnet.services.process import require_binary


def promtool_path() -> str:
    """The ``promtool`` executable, installed from Debian's ``prometheus`` package when missing
    (as ``redis-server`` is); a clear ServiceError where it cannot be."""
    return require_binary("promtool", "prometheus")


def check_metrics(text: str) -> subprocess.CompletedProcess[str]:
    """``promtool check metrics`` over an exposition (read on stdin); returncode 0 when valid."""
    return subprocess.run([promtool_path(), "check", "metrics"], input=text, capture_output=True, text=True, timeout=60)


def check_rules(path: Path) -> subprocess.CompletedProcess[str]:
    """``promtool check rules FILE``; returncode 0 when every rule parses."""
    return subprocess.run([promtool_path(), "check", "rules", str(path)], capture_output=True, text=True, timeout=60)
