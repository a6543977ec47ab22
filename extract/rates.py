"""Dated USD rates: what one unit of a currency was worth in USD on a date.

A price is converted at the newest rate on or before the day it was seen, and the rate and its
date are kept on the :class:`~dragnet.documents.Price`, so a figure read next year can be
re-checked (crypto moves fast: a constant rate makes old and new listings incomparable).  The
table is a CSV (``date,currency,usd``): the bundled ``rates.csv`` or ``crawl.rates_file``.  A
currency without a rate on that day has no USD value: never guessed."""

from __future__ import annotations

import bisect
import csv
import math
import os
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from functools import lru_cache
from pathlib import Path

from dragnet.settings import DragnetSettings, get_settings

BUNDLED_RATES = Path(__file__).resolve().parent / "rates.csv"
HEADER = ["date", "currency", "usd"]
_CURRENCY = re.compile(r"^[A-Z][A-Z0-9]{1,7}$")
_MAX_ROWS = 1_000_000


class RatesError(ValueError):
    """The rate table cannot be read; the message names the file and the line."""


@dataclass(frozen=True)
class Rate:
    """USD per unit of a currency, and the day it held (None: an undated, configured rate)."""

    usd: float
    day: date | None


class RateTable:
    """Every dated rate, by currency, sorted by day."""

    def __init__(self, rows: Mapping[str, Mapping[date, float]]) -> None:
        self._days: dict[str, list[date]] = {}
        self._usd: dict[str, list[float]] = {}
        for currency, by_day in rows.items():
            days = sorted(by_day)
            self._days[currency] = days
            self._usd[currency] = [by_day[d] for d in days]

    @classmethod
    def load(cls, path: Path) -> RateTable:
        """Read a ``date,currency,usd`` CSV; a bad row fails with the file and line."""
        rows: dict[str, dict[date, float]] = {}
        try:
            with path.open(encoding="utf-8", newline="") as fh:
                reader = csv.reader(fh)
                header = next(reader, None)
                if [h.strip().lower() for h in header or []] != HEADER:
                    raise RatesError(f"rate table {path}: the first line must be {','.join(HEADER)}")
                for number, row in enumerate(reader, start=2):
                    if not row or not "".join(row).strip():
                        continue
                    if number > _MAX_ROWS:
                        raise RatesError(f"rate table {path}: more than {_MAX_ROWS} rows")
                    day, currency, usd = _row(path, number, row)
                    rows.setdefault(currency, {})[day] = usd
        except OSError as exc:
            raise RatesError(f"cannot read rate table {path}: {exc}") from None
        return cls(rows)

    @property
    def currencies(self) -> list[str]:
        return sorted(self._days)

    def rate(self, currency: str, on: date) -> Rate | None:
        """The newest rate of ``currency`` on or before ``on``; None before its first date."""
        days = self._days.get(currency.upper())
        if not days:
            return None
        index = bisect.bisect_right(days, on) - 1
        if index < 0:
            return None
        return Rate(self._usd[currency.upper()][index], days[index])

    def on(self, day: date) -> dict[str, Rate]:
        """Every currency's rate on ``day`` (those with none are absent)."""
        found = {c: self.rate(c, day) for c in self._days}
        return {c: r for c, r in found.items() if r is not None}

    def latest(self) -> dict[str, float]:
        """The newest rate of every currency, as plain numbers (for the simulated sites)."""
        return {c: usd[-1] for c, usd in self._usd.items()}


def _row(path: Path, number: int, row: list[str]) -> tuple[date, str, float]:
    where = f"rate table {path} line {number}"
    if len(row) != 3:
        raise RatesError(f"{where}: expected date,currency,usd, got {len(row)} columns")
    raw_day, raw_currency, raw_usd = (cell.strip() for cell in row)
    try:
        day = date.fromisoformat(raw_day)
    except ValueError:
        raise RatesError(f"{where}: not a date (YYYY-MM-DD): {raw_day[:40]!r}") from None
    currency = raw_currency.upper()
    if not _CURRENCY.match(currency):
        raise RatesError(f"{where}: not a currency code: {raw_currency[:40]!r}")
    try:
        usd = float(raw_usd)
    except ValueError:
        raise RatesError(f"{where}: not a number: {raw_usd[:40]!r}") from None
    if not math.isfinite(usd) or usd <= 0:
        raise RatesError(f"{where}: a rate must be a positive number, got {raw_usd[:40]!r}")
    return day, currency, usd


@lru_cache(maxsize=8)
def _load_cached(path: Path, mtime_ns: int) -> RateTable:
    return RateTable.load(path)


_RECHECK_S = 5.0  # a changed rates file is read again within this long (a stat per price is too slow)
_last: tuple[Path, float, RateTable] | None = None


def rate_table(settings: DragnetSettings | None = None) -> RateTable:
    """The configured table (``crawl.rates_file``, else the bundled one), read again when the
    file changes (seen within a few seconds)."""
    global _last
    settings = settings or get_settings()
    path = settings.crawl.rates_file or BUNDLED_RATES
    now = time.monotonic()
    if _last is not None and _last[0] == path and now - _last[1] < _RECHECK_S:
        return _last[2]
    try:
        mtime = os.stat(path).st_mtime_ns
    except OSError as exc:
        raise RatesError(f"cannot read rate table {path}: {exc}") from None
    table = _load_cached(path, mtime)
    _last = (path, now, table)
    return table


def today() -> date:
    return datetime.now(UTC).date()


def usd_rates(
    on: date | None = None,
    overrides: Mapping[str, Rate] | None = None,
    settings: DragnetSettings | None = None,
) -> dict[str, Rate]:
    """The rates to convert at on ``on`` (default: today, UTC): the table's newest on or before
    that day; the deprecated undated ``crawl.usd_rates`` on top; then ``overrides`` (a site
    profile's own rates), each used only from its own date on."""
    settings = settings or get_settings()
    day = on or today()
    rates = dict(_base_rates(rate_table(settings), day, tuple(settings.crawl.usd_rates.items())))
    for currency, rate in (overrides or {}).items():
        if rate.day is None or rate.day <= day:
            rates[currency.upper()] = rate
    return rates


@lru_cache(maxsize=64)
def _base_rates(table: RateTable, day: date, undated: tuple[tuple[str, float], ...]) -> dict[str, Rate]:
    """The table's rates of one day with the undated settings on top (every price of a post
    asks: computed once a day, not once a price)."""
    rates = table.on(day)
    for currency, usd in undated:
        rates[currency.upper()] = Rate(usd, None)
    return rates


def to_usd(amount: float, currency: str, rates: Mapping[str, Rate]) -> tuple[float, Rate] | None:
    """``amount`` in USD (rounded to cents) and the rate used; None without a rate.  USD is
    itself at 1.0 even when the table has no row for it."""
    rate = rates.get(currency.upper())
    if rate is None and currency.upper() == "USD":
        rate = Rate(1.0, None)
    if rate is None:
        return None
    usd = round(amount * rate.usd, 2)
    return (usd, rate) if math.isfinite(usd) else None
