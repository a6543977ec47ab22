"""The record of each site's crawl: one JSON line per site per run, appended when the site's
crawl ends (by :class:`crawlers.metrics.CrawlMetrics`), at ``paths.crawl_runs_file``.

Why a file of its own: the Prometheus figures are counters of one process and the text file holds
only the latest values, so neither says when a site was last crawled or how that run went once
the process is gone.  The operator's crawl page and ``GET /api/crawls`` read the newest lines
(at most :data:`MAX_READ_BYTES` from the end), so the file may grow without slowing them; the
writer rotates it to ``.1`` past :data:`MAX_FILE_BYTES`."""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

MAX_FILE_BYTES = 8 * 1024 * 1024
MAX_READ_BYTES = 1024 * 1024
MAX_SITE_CHARS = 200


@dataclass(frozen=True)
class CrawlRun:
    """One site's crawl: when, how much, what went wrong."""

    site: str
    started_at: float
    ended_at: float
    pages: int
    listings: int
    errors: int
    gate_pauses: int
    finish_reason: str

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> CrawlRun:
        """A line as written by :func:`append_run`; raises on a line that is not one."""
        return cls(
            site=str(data["site"])[:MAX_SITE_CHARS],
            started_at=float(data["started_at"]),
            ended_at=float(data["ended_at"]),
            pages=int(data["pages"]),
            listings=int(data["listings"]),
            errors=int(data["errors"]),
            gate_pauses=int(data["gate_pauses"]),
            finish_reason=str(data.get("finish_reason", ""))[:100],
        )


def append_run(path: Path, run: CrawlRun) -> None:
    """Append one run; a line under 4 KiB written with O_APPEND is not interleaved with another
    process's line, so crawls of several processes may share the file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        if path.stat().st_size > MAX_FILE_BYTES:
            path.replace(path.with_name(path.name + ".1"))
    except FileNotFoundError:
        pass
    line = (json.dumps(asdict(run), separators=(",", ":")) + "\n").encode("utf-8")
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        os.write(fd, line)
    finally:
        os.close(fd)


def read_runs(path: Path) -> list[CrawlRun]:
    """The runs in the file's last :data:`MAX_READ_BYTES`, oldest first; damaged lines skipped."""
    try:
        with path.open("rb") as handle:
            size = handle.seek(0, os.SEEK_END)
            handle.seek(max(0, size - MAX_READ_BYTES))
            data = handle.read()
    except FileNotFoundError:
        return []
    lines = data.splitlines()
    if len(data) >= MAX_READ_BYTES and lines:
        lines = lines[1:]  # the first line may be cut
    runs = []
    for raw in lines:
        try:
            runs.append(CrawlRun.from_json(json.loads(raw)))
        except (ValueError, KeyError, TypeError):
            continue
    return runs


def site_status(runs: list[CrawlRun]) -> list[dict[str, Any]]:
    """Per site: its last run's figures and how many runs the file holds, newest crawl first."""
    last: dict[str, CrawlRun] = {}
    counts: dict[str, int] = {}
    for run in runs:
        counts[run.site] = counts.get(run.site, 0) + 1
        if run.site not in last or run.ended_at >= last[run.site].ended_at:
            last[run.site] = run
    out = [{**asdict(run), "runs": counts[site]} for site, run in last.items()]
    return sorted(out, key=lambda row: (-row["ended_at"], row["site"]))


RUN_FIELDS = tuple(f.name for f in fields(CrawlRun))
