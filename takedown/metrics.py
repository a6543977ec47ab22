"""Impact figures: what the notices achieved.

The policy paper judges this work by "social media drug listings removed per month"; a platform
and a regulator will also ask how fast (time from our notice to removal, p50/p90), how often we
were right (removal and false-positive rate per platform), and, for a trusted flagger, the yearly
report of DSA Art. 22(3): notices by provider, by type of content and by the action taken.
Removal counts rest on the notice history, where a removal is either the platform's feedback or
a re-crawl that found the post gone (``removed_by`` says which).
"""

from __future__ import annotations

import io
import json
from collections import Counter, defaultdict
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
from jinja2 import Environment, FileSystemLoader, select_autoescape
from pydantic import BaseModel, Field

from dragnet.documents import utcnow
from takedown.notices import Notice
from takedown.store import NoticeStore


class PlatformFigures(BaseModel):
    notices: int = 0
    released: int = 0
    sent: int = 0
    removed: int = 0
    removed_confirmed_by_recrawl: int = 0
    acknowledged: int = 0
    false_positive: int = 0
    disputed: int = 0
    pending_review: int = 0
    more_info_requested: int = 0  # notices the platform asked questions about
    more_info_open: int = 0  # ... whose question still waits for an analyst's answer
    with_statement_of_reasons: int = 0  # notices the platform gave a DSA Art. 17 statement for
    removal_rate: float | None = None
    false_positive_rate: float | None = None
    time_to_removal_p50_h: float | None = None
    time_to_removal_p90_h: float | None = None


class TrustedFlaggerReport(BaseModel):
    year: int
    notices: int
    by_provider: dict[str, int]
    by_content_type: dict[str, int]
    by_category: dict[str, int]
    by_outcome: dict[str, int]
    median_hours_to_action: float | None


class ImpactMetrics(BaseModel):
    generated_at: datetime
    removed_per_month: dict[str, int]
    time_to_removal_hours: dict[str, float | int | None]
    platforms: dict[str, PlatformFigures]
    trusted_flagger_report: TrustedFlaggerReport
    durations_h: list[float] = Field(default_factory=list, exclude=True)


def _percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None

    return round(float(np.percentile(np.asarray(values), q)), 3)


def _removal(notice: Notice) -> tuple[datetime | None, str | None]:
    for event in notice.history:
        if event.status == "removed":
            return event.at, event.by
    return None, None


def compute(store: NoticeStore, year: int | None = None, now: datetime | None = None) -> ImpactMetrics:
    """All figures from the notice histories (one pass)."""

    now = now or utcnow()
    year = year or now.year
    per_month: Counter[str] = Counter()
    durations: list[float] = []
    per_platform_durations: dict[str, list[float]] = defaultdict(list)
    figures: dict[str, PlatformFigures] = defaultdict(PlatformFigures)
    tf_provider: Counter[str] = Counter()
    tf_type: Counter[str] = Counter()
    tf_category: Counter[str] = Counter()
    tf_outcome: Counter[str] = Counter()
    tf_hours: list[float] = []
    for notice in store.all():
        fig = figures[notice.platform]
        fig.notices += 1
        if notice.status == "new":
            fig.pending_review += 1
        if notice.time_of("approved") is not None:
            fig.released += 1
        sent_at = notice.time_of("sent")
        removed_at, removed_by = _removal(notice)
        if sent_at is not None:
            fig.sent += 1
        if notice.status == "acknowledged" or notice.feedback == "true_positive":
            fig.acknowledged += 1
        if notice.feedback == "false_positive":
            fig.false_positive += 1
        if notice.feedback == "disputed":
            fig.disputed += 1
        if notice.info_requests:
            fig.more_info_requested += 1
        if notice.status == "need_more_info":
            fig.more_info_open += 1
        if notice.statement_of_reasons is not None:
            fig.with_statement_of_reasons += 1
        if removed_at is not None:
            fig.removed += 1
            if removed_by and removed_by.startswith("recrawl"):
                fig.removed_confirmed_by_recrawl += 1
            per_month[removed_at.strftime("%Y-%m")] += 1
            if sent_at is not None:
                hours = max(0.0, (removed_at - sent_at).total_seconds() / 3600)
                durations.append(hours)
                per_platform_durations[notice.platform].append(hours)
        if sent_at is not None and sent_at.year == year:
            tf_provider[notice.platform] += 1
            tf_type[notice.target.content_type] += 1
            tf_category[notice.law.dsa_category] += 1
            if notice.status == "removed":
                outcome = "removed"
            elif notice.feedback == "false_positive":
                outcome = "declined (false positive)"
            elif notice.status == "rejected":
                outcome = "withdrawn or declined"
            elif notice.feedback == "disputed":
                outcome = "disputed"
            elif notice.status == "expired":
                outcome = "no action before expiry"
            elif notice.status == "acknowledged":
                outcome = "acknowledged, pending action"
            elif notice.status == "need_more_info":
                outcome = "more information requested"
            else:
                outcome = "no answer yet"
            tf_outcome[outcome] += 1
            acted = removed_at or (notice.time_of("rejected") if notice.feedback == "false_positive" else None)
            if acted is not None:
                tf_hours.append(max(0.0, (acted - sent_at).total_seconds() / 3600))
    for name, fig in figures.items():
        if fig.sent:
            fig.removal_rate = round(fig.removed / fig.sent, 4)
            fig.false_positive_rate = round(fig.false_positive / fig.sent, 4)
        fig.time_to_removal_p50_h = _percentile(per_platform_durations[name], 50)
        fig.time_to_removal_p90_h = _percentile(per_platform_durations[name], 90)
    return ImpactMetrics(
        generated_at=now,
        removed_per_month=dict(sorted(per_month.items())),
        time_to_removal_hours={
            "count": len(durations),
            "p50": _percentile(durations, 50),
            "p90": _percentile(durations, 90),
            "max": round(max(durations), 3) if durations else None,
        },
        platforms=dict(sorted(figures.items())),
        trusted_flagger_report=TrustedFlaggerReport(
            year=year,
            notices=sum(tf_provider.values()),
            by_provider=dict(tf_provider),
            by_content_type=dict(tf_type),
            by_category=dict(tf_category),
            by_outcome=dict(tf_outcome),
            median_hours_to_action=_percentile(tf_hours, 50),
        ),
        durations_h=durations,
    )


_ENV = Environment(
    loader=FileSystemLoader(Path(__file__).with_name("templates")),
    autoescape=select_autoescape(default=True, default_for_string=True),
)
_PAGE = _ENV.get_template("impact.html")


def render_html(metrics: ImpactMetrics, plot_url: str = "metrics.svg") -> str:
    """The metrics page; every value goes through Jinja's autoescape (platform names and outcome
    labels come from configuration and feedback, never trusted as markup)."""
    return _PAGE.render(
        m=metrics,
        plot_url=plot_url,
        fmt=lambda v: "-" if v is None else f"{v:.1f}",
        pct=lambda v: "-" if v is None else f"{v * 100:.1f}%",
    )


def render_plot(metrics: ImpactMetrics, fmt: str = "svg") -> bytes:
    """Removed per month (bars) beside the time-to-removal distribution (histogram with p50/p90).

    Counts are whole listings, so count axes tick at integers only; durations are never
    negative, so time axes start at 0 (an automatic margin used to show "-0.5 h").  Text stays
    text in the SVG (``svg.fonttype: none``), so screen readers and tests can read the labels."""
    # matplotlib: loaded only when a plot is drawn
    import matplotlib

    matplotlib.use("Agg")
    # after the non-interactive backend is chosen
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    with matplotlib.rc_context({"svg.fonttype": "none", "axes.unicode_minus": False}):
        fig = Figure(figsize=(10, 4))
        left, right = fig.subplots(1, 2)
        months = list(metrics.removed_per_month)
        left.bar(months, [metrics.removed_per_month[m] for m in months], color="#3a6ea5")
        left.set_title("Listings removed per month")
        left.set_xlabel("month (YYYY-MM, UTC)")
        left.set_ylabel("listings removed (count)")
        left.yaxis.set_major_locator(MaxNLocator(integer=True))
        left.set_ylim(bottom=0, top=max([1, *metrics.removed_per_month.values()]) * 1.1)
        left.tick_params(axis="x", labelrotation=45)
        durations = metrics.durations_h
        if durations:
            right.hist(
                durations, bins=min(30, max(5, len(durations))), range=(0, max(durations) or 1.0), color="#999999"
            )
            for q, style in (("p50", "-"), ("p90", "--")):
                value = metrics.time_to_removal_hours.get(q)
                if value is not None:
                    right.axvline(float(value), color="#c0392b", linestyle=style, label=f"{q} {float(value):.1f} h")
            right.legend()
        else:
            right.text(0.5, 0.5, "no removals yet", ha="center", va="center", transform=right.transAxes)
        right.set_title("Time from notice to removal")
        right.set_xlabel("hours from notice to removal (h)")
        right.set_ylabel("listings (count)")
        right.yaxis.set_major_locator(MaxNLocator(integer=True))
        right.set_xlim(left=0)
        right.set_ylim(bottom=0)
        fig.tight_layout()
        buf = io.BytesIO()
        fig.savefig(buf, format=fmt)
    return buf.getvalue()


def as_dict(metrics: ImpactMetrics) -> dict[str, Any]:
    return json.loads(metrics.model_dump_json())
