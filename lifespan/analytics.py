"""Lifespan analytics: first/last seen, uptime, Kaplan-Meier survival, cumulative incidence.

The policy question is "how long does a market live?", measured in days from first sighting to
closure.  Markets still alive (or down without a verdict yet) are right-censored at their last
sighting, which Kaplan-Meier handles and a plain mean of closed markets would not.  Closures of
different kinds (seizure, exit scam, retirement) compete: the Aalen-Johansen estimator gives the
cumulative incidence of each, which 1 - KM per type would overstate.

Sources are the probed markets of the store and imported historical tables; a market present in
both counts once (the imported record, which usually spans more of its life, wins).
"""

from __future__ import annotations

import io
import math
import time
import warnings
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

from lifespan.models import TERMINAL_STATES, MarketState
from lifespan.store import LifespanStore

DAY = 86400.0
CLOSURE_TYPES = ("seized", "exit_scam", "hacked", "retired")
REPORT_DAYS = (30, 90, 180, 365, 540, 730)


@dataclass
class LifeRecord:
    """One market's life for survival analysis."""

    market_id: str
    name: str
    start: float
    end: float
    closed: bool
    closure_type: str | None
    suspected: bool
    source: str
    state: str | None = None
    uptime_pct: float | None = None
    probes: int = 0

    @property
    def days(self) -> float:
        return max(self.end - self.start, 0.0) / DAY


@dataclass
class SurvivalSummary:
    n: int
    events: int
    censored: int
    median_days: float | None
    median_ci: tuple[float | None, float | None]
    alpha: float
    timeline: list[dict[str, float]] = field(default_factory=list)  # t, survival, lower, upper, at_risk
    survival_at: dict[str, float | None] = field(default_factory=dict)
    incidence: dict[str, dict[str, Any]] = field(default_factory=dict)
    censored_marks: list[dict[str, float]] = field(default_factory=list)  # t, survival: where a market left view

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def normalise_closure(value: str | None) -> str | None:
    """Map the many spellings of closure types in published tables to ours (or ``None``: open)."""
    if value is None:
        return None
    v = value.strip().lower().replace("-", "_").replace(" ", "_")
    if v in {"", "none", "open", "active", "alive", "censored", "unknown_open", "online"}:
        return None
    if v in {"seized", "seizure", "le", "law_enforcement", "raided", "takedown", "taken_down"}:
        return "seized"
    if v in {"exit_scam", "exitscam", "exit", "scam", "exit_scammed"}:
        return "exit_scam"
    if v in {"hack", "hacked", "breached", "compromised"}:
        return "hacked"  # a closure of its own: neither the operators' choice nor law enforcement
    if v in {
        "retired",
        "voluntary",
        "closed",
        "shutdown",
        "shut_down",
        "closed_voluntarily",
        "unknown",
        "other",
    }:
        return "retired"
    return "retired"


def life_records(store: LifespanStore, now: float | None = None, confirmed_only: bool = False) -> list[LifeRecord]:
    """Lives from imported history and from the probed markets (imports win on overlap)."""
    now = time.time() if now is None else now
    records: dict[str, LifeRecord] = {}
    for market in store.markets():
        if market.first_seen is None:
            continue  # never seen up: no life to measure
        hits, total = store.probe_counts(market.market_id)
        closed = market.state in TERMINAL_STATES and not (confirmed_only and market.suspected)
        end = market.state_since if closed and market.state_since else (market.last_seen or market.first_seen)
        if closed and market.last_seen is not None:
            # A market dies when it was last seen alive, not when we finally called it.
            end = min(end, market.last_seen) if market.state != MarketState.SEIZED else end
        records[market.market_id] = LifeRecord(
            market.market_id,
            market.name,
            market.first_seen,
            end,
            closed,
            market.state.value if closed else None,
            market.suspected,
            "probes",
            market.state.value,
            round(100.0 * hits / total, 2) if total else None,
            total,
        )
    for row in store.history():
        closure = normalise_closure(row["closure_type"])
        end = row["end"] if row["end"] is not None else now
        records[row["market_id"]] = LifeRecord(
            row["market_id"],
            row["name"],
            row["start"],
            end,
            closure is not None and row["end"] is not None,
            closure if row["end"] is not None else None,
            False,
            f"import:{row['source']}",
        )
    return sorted(records.values(), key=lambda r: (r.start, r.market_id))


def _finite(x: Any) -> float | None:
    try:
        f = float(x)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


def survival(records: list[LifeRecord], alpha: float = 0.05) -> SurvivalSummary:
    """Kaplan-Meier (with Greenwood / exponential CI) and Aalen-Johansen incidence per closure type."""
    # lifelines takes seconds to import: loaded only by the survival analysis
    from lifelines import AalenJohansenFitter, KaplanMeierFitter
    from lifelines.utils import median_survival_times

    if not records:
        return SurvivalSummary(0, 0, 0, None, (None, None), alpha)
    durations = [r.days for r in records]
    events = [r.closed for r in records]
    kmf = KaplanMeierFitter(alpha=alpha)
    kmf.fit(durations, event_observed=events, label="survival")
    sf = kmf.survival_function_["survival"]
    ci = kmf.confidence_interval_
    at_risk = kmf.event_table["at_risk"]
    timeline = [
        {
            "t": float(t),
            "survival": float(sf.loc[t]),
            "lower": float(ci.iloc[i, 0]),
            "upper": float(ci.iloc[i, 1]),
            "at_risk": int(at_risk.loc[t]) if t in at_risk.index else 0,
        }
        for i, t in enumerate(sf.index)
    ]
    median = _finite(kmf.median_survival_time_)
    try:
        mci = median_survival_times(ci)
        median_ci = (_finite(mci.iloc[0, 0]), _finite(mci.iloc[0, 1]))
    except Exception:  # noqa: BLE001 - an undefined bound is reported as None
        median_ci = (None, None)
    survival_at = {str(d): _finite(kmf.predict(d)) for d in REPORT_DAYS}
    summary = SurvivalSummary(
        len(records), sum(events), len(records) - sum(events), median, median_ci, alpha, timeline, survival_at
    )
    # a censored market is drawn as a tick on the curve: the reader sees how much of it rests on open markets
    summary.censored_marks = sorted(
        ({"t": float(r.days), "survival": float(kmf.predict(r.days))} for r in records if not r.closed),
        key=lambda m: m["t"],
    )
    codes = {name: i + 1 for i, name in enumerate(CLOSURE_TYPES)}
    event_codes = [codes.get(r.closure_type or "", 0) if r.closed else 0 for r in records]
    for name, code in codes.items():
        n_type = sum(1 for c in event_codes if c == code)
        if n_type == 0:
            summary.incidence[name] = {"events": 0, "final": 0.0, "at": {str(d): 0.0 for d in REPORT_DAYS}, "curve": []}
            continue
        ajf = AalenJohansenFitter(seed=7, calculate_variance=n_type > 1)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # tied times are jittered (seeded); lifelines warns each time
            ajf.fit(durations, event_codes, event_of_interest=code)
        cif = ajf.cumulative_density_.iloc[:, 0]

        def at(day: float, cif: Any = cif) -> float:
            before = cif[cif.index <= day]
            return float(before.iloc[-1]) if len(before) else 0.0

        summary.incidence[name] = {
            "events": n_type,
            "final": float(cif.iloc[-1]),
            "at": {str(d): at(d) for d in REPORT_DAYS},
            "curve": [{"t": float(t), "cif": float(v)} for t, v in cif.items()],
        }
    return summary


def market_rows(records: list[LifeRecord]) -> list[dict[str, Any]]:
    return [{**asdict(r), "days": round(r.days, 2)} for r in records]


def report(
    store: LifespanStore, now: float | None = None, confirmed_only: bool = False, alpha: float = 0.05
) -> dict[str, Any]:
    """Everything the CLI, API and page show: per-market rows and the survival summary."""
    records = life_records(store, now=now, confirmed_only=confirmed_only)
    summary = survival(records, alpha=alpha)
    states: dict[str, int] = {}
    registry = []
    for m in store.markets():
        states[m.state.value] = states.get(m.state.value, 0) + 1
        registry.append(
            {
                "market_id": m.market_id,
                "name": m.name,
                "state": m.state.value,
                "suspected": m.suspected,
                "primary_host": m.primary_host,
                "last_probe_at": m.last_probe_at,
                "next_probe_at": m.next_probe_at,
            }
        )
    return {
        "generated_at": time.time() if now is None else now,
        "confirmed_only": confirmed_only,
        "markets": market_rows(records),
        "registry": registry,
        "states": states,
        "survival": summary.as_dict(),
    }


PLOT_FORMATS = ("png", "svg")


def _survival_axes(ax: Any, summary: dict[str, Any]) -> None:
    """The Kaplan-Meier step curve, its CI band and a '+' where each censored market left view."""
    timeline = summary.get("timeline") or []
    ts = [p["t"] for p in timeline]
    ax.step(ts, [p["survival"] for p in timeline], where="post", label="Kaplan-Meier")
    ax.fill_between(
        ts,
        [p["lower"] for p in timeline],
        [p["upper"] for p in timeline],
        step="post",
        alpha=0.25,
        label=f"{int(100 * (1 - summary.get('alpha', 0.05)))}% CI",
    )
    marks = summary.get("censored_marks") or []
    if marks:
        ax.plot(
            [m["t"] for m in marks],
            [m["survival"] for m in marks],
            linestyle="none",
            marker="+",
            markersize=9,
            color="#000",
            label=f"censored ({len(marks)})",
        )
    ax.set_xlabel("days since first seen")
    ax.set_ylabel("share of markets still open")
    ax.set_ylim(0, 1.02)
    ax.legend(loc="upper right")


def _incidence_axes(ax: Any, summary: dict[str, Any]) -> None:
    for name, data in (summary.get("incidence") or {}).items():
        curve = data.get("curve") or []
        if curve:
            ax.step([p["t"] for p in curve], [p["cif"] for p in curve], where="post", label=name)
    ax.set_xlabel("days since first seen")
    ax.set_ylabel("cumulative incidence")
    ax.set_ylim(0, 1.02)
    ax.legend(loc="upper left")


def plots(summary: dict[str, Any], fmt: str = "png") -> dict[str, bytes]:
    """Survival curve (CI band, censored ticks) and cumulative incidence per closure type, as PNG or
    SVG bytes; SVG keeps text as text and a fixed id salt, so two plots inline in one page agree."""
    if fmt not in PLOT_FORMATS:
        raise ValueError(f"plot format is png or svg, not {fmt!r}")
    # matplotlib: loaded only when a plot is drawn
    import matplotlib

    matplotlib.use("Agg")
    # after the non-interactive backend is chosen
    import matplotlib.pyplot as plt

    wanted = []
    if summary.get("timeline"):
        wanted.append(("survival", _survival_axes))
    if any(v.get("curve") for v in (summary.get("incidence") or {}).values()):
        wanted.append(("incidence", _incidence_axes))
    out: dict[str, bytes] = {}
    with matplotlib.rc_context({"svg.fonttype": "none", "svg.hashsalt": "dragnet"}):
        for key, draw in wanted:
            fig, ax = plt.subplots(figsize=(6, 3.5), dpi=100)
            draw(ax, summary)
            fig.tight_layout()
            buf = io.BytesIO()
            fig.savefig(buf, format=fmt)
            plt.close(fig)
            out[key] = buf.getvalue()
    return out


def plots_png(summary: dict[str, Any]) -> dict[str, bytes]:
    """The report's plots as PNG bytes (see :func:`plots`)."""
    return plots(summary, "png")


STATUS_LEVEL = {"up": 3, "gate": 2, "login": 2, "down": 0, "seized": -1}


def timeline_png(probes: list[dict[str, Any]], changes: list[dict[str, Any]]) -> bytes | None:
    """One market's uptime timeline: each probe's outcome over time, state changes as lines."""
    if not probes:
        return None

    # matplotlib: loaded only when a plot is drawn
    import matplotlib

    matplotlib.use("Agg")
    # after the non-interactive backend is chosen
    import matplotlib.pyplot as plt
    from matplotlib.dates import date2num

    def when(ts: float) -> float:
        """A timestamp as matplotlib's date number (days since its epoch)."""
        return float(date2num(datetime.fromtimestamp(ts, tz=UTC)))

    fig, ax = plt.subplots(figsize=(7, 2.6), dpi=100)
    ax.xaxis_date()  # the x values are date numbers: label them as dates
    xs = [when(p["at"]) for p in probes]
    ys = [STATUS_LEVEL.get(p["status"], 0) for p in probes]
    ax.step(xs, ys, where="post", color="#888", linewidth=0.8)
    colours = {"up": "#2a2", "gate": "#a82", "login": "#a82", "down": "#c22", "seized": "#000"}
    ax.scatter(xs, ys, c=[colours.get(p["status"], "#888") for p in probes], s=12, zorder=3)
    for c in changes:
        ax.axvline(when(c["at"]), color="#36c", alpha=0.4, linewidth=0.8)
    ax.set_yticks([-1, 0, 2, 3], ["seized", "down", "gate/login", "up"])
    ax.set_ylim(-1.5, 3.5)
    fig.autofmt_xdate()
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    return buf.getvalue()
