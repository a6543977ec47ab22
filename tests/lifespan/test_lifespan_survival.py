"""Survival numbers against a Kaplan-Meier estimate computed by hand, on a small made-up table
of markets (some still open: censored), loaded through the CSV importer."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from lifespan.analytics import life_records, report, survival
from lifespan.importer import import_csv, parse_date
from lifespan.models import MarketState, ProbeResult, ProbeStatus
from lifespan.state import StateMachine

START = datetime(2020, 1, 1, tzinfo=UTC)

# (name, lifetime in days, closure); "open" rows are censored at their end date.
TABLE = [
    ("Alpha", 20, "seized"),
    ("Bravo", 30, "exit scam"),
    ("Charlie", 40, "open"),
    ("Delta", 50, "Seizure"),
    ("Echo", 60, "open"),
    ("Foxtrot", 80, "exit_scam"),
    ("Golf", 90, "voluntary"),
    ("Hotel", 120, "active"),
]


def write_table(path: Path) -> Path:
    lines = ["name,start,end,closure_type,source,notes"]
    for name, days, closure in TABLE:
        end = (START + timedelta(days=days)).strftime("%Y-%m-%d")
        lines.append(f"{name},{START:%Y-%m-%d},{end},{closure},made-up table,test row")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_kaplan_meier_matches_hand_computation(store, tmp_path) -> None:
    result = import_csv(store, write_table(tmp_path / "markets.csv"))
    assert (result.imported, result.duplicates, result.errors) == (8, 0, [])
    assert import_csv(store, tmp_path / "markets.csv").duplicates == 8  # idempotent

    records = life_records(store, now=parse_date("2021-01-01"))
    assert [round(r.days) for r in records] == [20, 30, 40, 50, 60, 80, 90, 120]
    assert [r.closed for r in records] == [True, True, False, True, False, True, True, False]

    s = survival(records)
    assert (s.n, s.events, s.censored) == (8, 5, 3)
    # Product-limit estimate by hand: S(t) = prod over event times t_i <= t of (1 - d_i / n_i)
    #   t=20: 8 at risk, 1 event -> 7/8
    #   t=30: 7 at risk, 1 event -> 7/8 * 6/7 = 3/4
    #   t=40: censored (Charlie)
    #   t=50: 5 at risk, 1 event -> 3/4 * 4/5 = 3/5
    #   t=60: censored (Echo)
    #   t=80: 3 at risk, 1 event -> 3/5 * 2/3 = 2/5
    #   t=90: 2 at risk, 1 event -> 2/5 * 1/2 = 1/5
    #   t=120: censored (Hotel); S stays 1/5
    expected = {20: 7 / 8, 30: 3 / 4, 40: 3 / 4, 50: 3 / 5, 60: 3 / 5, 80: 2 / 5, 90: 1 / 5, 120: 1 / 5}
    got = {round(p["t"]): p["survival"] for p in s.timeline if p["t"] > 0}
    assert got.keys() == expected.keys()
    for t, value in expected.items():
        assert got[t] == pytest.approx(value, abs=1e-9), t
    at_risk = {round(p["t"]): p["at_risk"] for p in s.timeline if p["t"] > 0}
    assert at_risk == {20: 8, 30: 7, 40: 6, 50: 5, 60: 4, 80: 3, 90: 2, 120: 1}
    # the median: the first time S(t) <= 1/2 -> 80 days
    assert s.median_days == pytest.approx(80)
    assert s.survival_at["30"] == pytest.approx(3 / 4) and s.survival_at["90"] == pytest.approx(1 / 5)

    # Greenwood variance with the log(-log) transform, by hand at t=50:
    #   sum d/(n(n-d)) = 1/(8*7) + 1/(7*6) + 1/(5*4)
    greenwood = 1 / 56 + 1 / 42 + 1 / 20
    s50 = 3 / 5
    se = math.sqrt(greenwood / math.log(s50) ** 2)
    z = 1.959963984540054
    lower = math.exp(-math.exp(math.log(-math.log(s50)) + z * se))
    upper = math.exp(-math.exp(math.log(-math.log(s50)) - z * se))
    point = next(p for p in s.timeline if round(p["t"]) == 50)
    assert point["lower"] == pytest.approx(lower, abs=1e-6)
    assert point["upper"] == pytest.approx(upper, abs=1e-6)

    # The median's confidence interval: where the CI band's bounds cross 1/2, with the bounds
    # computed by hand at every event time as above.
    s_t, gw, bounds = 1.0, 0.0, {}
    for t, n in ((20, 8), (30, 7), (50, 5), (80, 3), (90, 2)):
        s_t *= 1 - 1 / n
        gw += 1 / (n * (n - 1))
        if s_t < 1:
            c, se_t = math.log(-math.log(s_t)), math.sqrt(gw / math.log(s_t) ** 2)
            bounds[t] = (math.exp(-math.exp(c + z * se_t)), math.exp(-math.exp(c - z * se_t)))
    lower_median = min(t for t, (lo, _) in bounds.items() if lo <= 0.5)
    upper_cross = [t for t, (_, hi) in bounds.items() if hi <= 0.5]
    assert s.median_ci[0] == pytest.approx(lower_median)
    assert s.median_ci[1] == (pytest.approx(min(upper_cross)) if upper_cross else None)
    assert s.median_ci[0] <= s.median_days

    # Cumulative incidence by closure type (Aalen-Johansen), by hand: sum of S(t-) * d_k / n
    #   seized:    t=20: 1 * 1/8 = 0.125;  t=50: 3/4 * 1/5 = 0.15   -> 0.275
    #   exit scam: t=30: 7/8 * 1/7 = 0.125; t=80: 3/5 * 1/3 = 0.2   -> 0.325
    #   retired:   t=90: 2/5 * 1/2 = 0.2                             -> 0.2
    assert s.incidence["seized"]["final"] == pytest.approx(0.275, abs=1e-6)
    assert s.incidence["exit_scam"]["final"] == pytest.approx(0.325, abs=1e-6)
    assert s.incidence["retired"]["final"] == pytest.approx(0.2, abs=1e-6)
    assert s.incidence["seized"]["at"]["30"] == pytest.approx(0.125, abs=1e-6)
    # the incidences add up to 1 - S at the end
    total = sum(v["final"] for v in s.incidence.values())
    assert total == pytest.approx(1 - 1 / 5, abs=1e-6)


def test_importer_reports_bad_rows_and_censors_open_markets(store, tmp_path) -> None:
    csv_path = tmp_path / "bad.csv"
    csv_path.write_text(
        "Name,Start,End,Closure_Type\n"
        "Good,2019-03-01,,\n"
        ",2019-01-01,2019-02-01,seized\n"
        "Backwards,2019-05-01,2019-01-01,seized\n"
        "Garbled,yesterday,2019-01-01,seized\n"
        "NoReason,2019-01-01,2019-04-11,\n",
        encoding="utf-8",
    )
    result = import_csv(store, csv_path)
    assert result.imported == 2
    assert [e.split(":")[0] for e in result.errors] == ["line 3", "line 4", "line 5"]
    rows = {r["name"]: r for r in store.history()}
    # an open market is censored at the table's newest date (2019-04-11), not at report time
    assert result.as_of == parse_date("2019-04-11") and result.open_rows == 1
    assert rows["Good"]["end"] == result.as_of and rows["Good"]["closure_type"] is None
    assert rows["NoReason"]["closure_type"] == "retired"  # closed, reason unknown
    now = parse_date("2019-06-01")
    lives = {r.name: r for r in life_records(store, now=now)}
    assert not lives["Good"].closed and lives["Good"].days == pytest.approx(41)
    assert lives["NoReason"].closed and lives["NoReason"].days == pytest.approx(100)
    missing = tmp_path / "missing.csv"
    missing.write_text("market,opened\nX,2020-01-01\n", encoding="utf-8")
    assert import_csv(store, missing).errors == [
        "unknown column(s): 'market', 'opened'; expected: name, start, end, closure_type, source, notes"
    ]


def test_probed_markets_enter_the_analysis(store, lifespan_settings) -> None:
    """A market probed up, then seized: first/last seen, uptime and its closure come from probes."""
    machine = StateMachine(store, lifespan_settings.lifespan)
    store.upsert_market("Probed", primary_host="x.onion")
    t0 = 1_700_000_000.0
    statuses = [ProbeStatus.UP, ProbeStatus.UP, ProbeStatus.DOWN, ProbeStatus.UP, ProbeStatus.SEIZED]
    for i, status in enumerate(statuses):
        market = store.get_market("probed")
        result = ProbeResult(
            market_id="probed",
            url="http://x.onion/",
            host="x.onion",
            at=t0 + i * 86400.0,
            status=status,
            down_kind="timeout" if status == ProbeStatus.DOWN else None,
        )
        machine.apply(market, result)
        store.add_probe(result)
    market = store.get_market("probed")
    assert market.state == MarketState.SEIZED
    assert (market.first_seen, market.last_seen) == (t0, t0 + 3 * 86400.0)
    rep = report(store, now=t0 + 10 * 86400.0)
    row = next(r for r in rep["markets"] if r["market_id"] == "probed")
    assert row["closed"] and row["closure_type"] == "seized" and row["days"] == pytest.approx(4)
    assert row["uptime_pct"] == pytest.approx(60.0)  # 3 of 5 probes reachable
    assert rep["survival"]["events"] == 1 and rep["states"] == {"seized": 1}
