"""Chart geometry for the server-drawn SVG charts of the UI (no JavaScript): a time histogram
with axes, optionally stacked by a field's values, and a horizontal bar chart of facet counts.

Only numbers are computed here; the templates (``_charts.html``) write the SVG, so every label
(market, substance and country names come from hostile pages) goes through autoescaping."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime

from index.store import FacetBucket, HistogramBucket

WIDTH, HEIGHT = 720, 240
LEFT, RIGHT, TOP, BOTTOM = 48, 12, 12, 44
MAX_SERIES = 6  # stacked series drawn; the rest is "other"
MAX_X_LABELS = 8
PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#7f7f7f")
OTHER = "other"


@dataclass
class Segment:
    series: str
    count: int
    y: float
    height: float
    colour: str


@dataclass
class Bar:
    start: datetime
    label: str
    count: int
    x: float
    width: float
    segments: list[Segment] = field(default_factory=list)


@dataclass
class Tick:
    value: float
    label: str
    pos: float  # y for the value axis, x centre for the time axis


@dataclass
class TimeChart:
    """A histogram drawn in a ``WIDTH`` x ``HEIGHT`` viewBox; ``series`` is the legend (name, colour)."""

    interval: str
    bars: list[Bar]
    y_ticks: list[Tick]
    x_ticks: list[Tick]
    series: list[tuple[str, str]]
    peak: int
    total: int
    width: int = WIDTH
    height: int = HEIGHT
    left: int = LEFT
    top: int = TOP
    bottom_y: int = HEIGHT - BOTTOM
    right_x: int = WIDTH - RIGHT


def nice_step(peak: float, ticks: int = 4) -> int:
    """A round step (1, 2, 5 x 10^n) that splits ``0..peak`` into about ``ticks`` parts."""
    if peak <= ticks:
        return 1
    raw = peak / ticks
    power = 10 ** math.floor(math.log10(raw))
    return int(next(m * power for m in (1, 2, 5, 10) if m * power >= raw))


def _label(start: datetime, interval: str) -> str:
    return start.strftime("%Y-%m") if interval == "month" else start.strftime("%Y-%m-%d")


def time_chart(buckets: list[HistogramBucket], interval: str) -> TimeChart | None:
    """The geometry of ``buckets``; stacked when the buckets carry a split.  None when empty."""
    if not buckets:
        return None
    totals: dict[str, int] = {}
    for bucket in buckets:
        for name, number in bucket.split.items():
            totals[name] = totals.get(name, 0) + number
    names = [n for n, _ in sorted(totals.items(), key=lambda kv: (-kv[1], kv[0]))[:MAX_SERIES]]
    colours = {name: PALETTE[i] for i, name in enumerate(names)}
    stacks = []
    for bucket in buckets:
        parts = [(n, bucket.split.get(n, 0)) for n in names if bucket.split.get(n, 0)]
        rest = bucket.count - sum(number for _, number in parts) if names else 0
        if rest > 0:
            parts.append((OTHER, rest))
        stacks.append(parts)
    peak = max(max(b.count for b in buckets), max((sum(n for _, n in p) for p in stacks), default=0), 1)
    step = nice_step(peak)
    top_value = step * math.ceil(peak / step)
    plot_h = HEIGHT - BOTTOM - TOP
    plot_w = WIDTH - LEFT - RIGHT
    slot = plot_w / len(buckets)
    bar_w = max(slot * 0.8, 0.5)

    def y_of(value: float) -> float:
        return round(HEIGHT - BOTTOM - plot_h * value / top_value, 2)

    bars = []
    for index, (bucket, parts) in enumerate(zip(buckets, stacks, strict=True)):
        x = round(LEFT + index * slot + (slot - bar_w) / 2, 2)
        bar = Bar(bucket.start, _label(bucket.start, interval), bucket.count, x, round(bar_w, 2))
        if parts:
            base = 0
            for name, number in parts:
                bar.segments.append(
                    Segment(
                        name,
                        number,
                        y_of(base + number),
                        round(y_of(base) - y_of(base + number), 2),
                        colours.get(name, PALETTE[-1]),
                    )
                )
                base += number
        elif bucket.count:
            bar.segments.append(
                Segment("", bucket.count, y_of(bucket.count), round(y_of(0) - y_of(bucket.count), 2), PALETTE[0])
            )
        bars.append(bar)
    y_ticks = [Tick(v, str(v), y_of(v)) for v in range(0, top_value + 1, step)]
    every = max(1, math.ceil(len(bars) / MAX_X_LABELS))
    x_ticks = [Tick(i, bar.label, round(bar.x + bar.width / 2, 2)) for i, bar in enumerate(bars) if i % every == 0]
    legend = [(name, colours[name]) for name in names]
    if any(name == OTHER for parts in stacks for name, _ in parts):
        legend.append((OTHER, PALETTE[-1]))
    return TimeChart(interval, bars, y_ticks, x_ticks, legend, peak, sum(b.count for b in buckets))


@dataclass
class HBar:
    value: str
    count: int
    y: float
    width: float


@dataclass
class BarChart:
    """Horizontal bars (one per facet value), labels on the left, counts on the right."""

    bars: list[HBar]
    x_ticks: list[Tick]
    width: int = WIDTH
    height: int = 0
    label_w: int = 120
    bar_h: int = 18
    top: int = TOP
    bottom_y: int = 0


def bar_chart(facet: list[FacetBucket], limit: int = 15) -> BarChart | None:
    """The geometry of a facet's counts (the ``limit`` largest); None when it has none."""
    items = [b for b in facet if b.count > 0][:limit]
    if not items:
        return None
    chart = BarChart(bars=[], x_ticks=[])
    peak = max(b.count for b in items)
    step = nice_step(peak)
    top_value = step * math.ceil(peak / step)
    plot_w = WIDTH - chart.label_w - 60
    for index, bucket in enumerate(items):
        chart.bars.append(
            HBar(
                bucket.value, bucket.count, TOP + index * (chart.bar_h + 6), round(plot_w * bucket.count / top_value, 2)
            )
        )
    chart.bottom_y = TOP + len(items) * (chart.bar_h + 6)
    chart.height = chart.bottom_y + 30
    chart.x_ticks = [
        Tick(v, str(v), round(chart.label_w + plot_w * v / top_value, 2)) for v in range(0, top_value + 1, step)
    ]
    return chart


__all__ = ["BarChart", "TimeChart", "bar_chart", "nice_step", "time_chart"]
