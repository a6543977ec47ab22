"""Import published tables of historical markets, so survival covers years before our probes.

CSV format (UTF-8, header row, comma-separated; column names are case-insensitive):

=============  ========  ==================================================================
column         required  meaning
=============  ========  ==================================================================
name           yes       market name ("Silk Road 2.0")
start          yes       first day open: ``YYYY-MM-DD`` (or ``YYYY-MM``, ISO datetime)
end            no        last day open; empty when still open (the record is censored)
closure_type   no        seized | exit_scam | hacked | retired (also: seizure, exit scam, hack,
                         voluntary, closed...); empty or ``open`` when still open
                         (``closure`` is accepted as its alias)
source         no        where the row comes from (a paper, a dataset); default: file name
notes          no        free text, kept with the record
=============  ========  ==================================================================

Any other column is refused (a typo such as ``ended`` would otherwise silently drop every end
date), and the error names the expected columns.

A row with an ``end`` but no ``closure_type`` counts as closed for an unknown reason (``retired``);
a row with an ``end`` and ``closure_type`` ``open`` was open when the table was made: it is
censored at ``end``.  A row without ``end`` is censored at the *as-of* date: ``--as-of`` or, by
default, the newest date in the table (when it was made, not when it was imported).
Rows that cannot be read are reported by line number and skipped; nothing partial is guessed.
Re-importing the same file adds nothing twice (unique on market, start and source).
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from lifespan.analytics import normalise_closure
from lifespan.store import LifespanStore

MAX_ROWS = 100_000
REQUIRED = ("name", "start")
COLUMNS = ("name", "start", "end", "closure_type", "source", "notes")
ALIASES = {"closure": "closure_type"}
COLUMNS_LIST = ", ".join(COLUMNS)
COLUMNS_HELP = (
    f"CSV (UTF-8, header row) with the columns {COLUMNS_LIST} (name and start required; "
    "closure_type one of seized, exit_scam, hacked, retired, open).  Other columns are refused."
)


@dataclass
class ImportResult:
    imported: int = 0
    duplicates: int = 0
    errors: list[str] = field(default_factory=list)
    as_of: float | None = None  # where markets without an end were censored
    open_rows: int = 0


# Dark-web markets exist since 2011; a date outside these bounds is a typo or an attack, and one
# such date would break every later report (plots and survival tables span all of history).
EARLIEST = datetime(1990, 1, 1, tzinfo=UTC).timestamp()
LATEST = datetime(2100, 1, 1, tzinfo=UTC).timestamp()


def parse_date(value: str) -> float:
    """``YYYY-MM-DD``, ``YYYY-MM`` or an ISO datetime, as epoch seconds UTC; ValueError for
    anything else, and for a date before 1990 or after 2099."""
    v = value.strip()[:64]
    stamp: float | None = None
    for fmt in ("%Y-%m-%d", "%Y-%m", "%Y/%m/%d", "%d.%m.%Y"):
        try:
            stamp = datetime.strptime(v, fmt).replace(tzinfo=UTC).timestamp()
            break
        except ValueError:
            continue
    if stamp is None:
        dt = datetime.fromisoformat(v)
        try:
            stamp = (dt if dt.tzinfo else dt.replace(tzinfo=UTC)).timestamp()
        except (OverflowError, OSError) as exc:
            raise ValueError(f"date out of range: {v!r}") from exc
    if not EARLIEST <= stamp < LATEST:
        raise ValueError(f"date out of range (1990-2099): {v!r}")
    return stamp


def import_csv(store: LifespanStore, path: Path, source: str | None = None, as_of: float | None = None) -> ImportResult:
    """Load ``path`` into the store's history table; rows without an end are censored at
    ``as_of`` (default: the newest date in the table)."""
    result = ImportResult()
    source = source or path.name
    try:
        _read_rows(store, path, source, result, as_of)
    except UnicodeDecodeError as exc:
        result.errors.append(f"not UTF-8 text (byte {exc.start}): save the table as UTF-8 CSV")
    except csv.Error as exc:  # a field over the csv module's limit, a NUL byte, a broken quote
        result.errors.append(f"unreadable CSV: {exc}")
    return result


def _read_rows(store: LifespanStore, path: Path, source: str, result: ImportResult, as_of: float | None) -> None:
    with path.open(newline="", encoding="utf-8-sig") as fh:
        reader = csv.DictReader(fh)
        if reader.fieldnames is None:
            result.errors.append("empty file")
            return
        columns: dict[str, str] = {}
        unknown: list[str] = []
        for c in reader.fieldnames:
            key = (c or "").strip().lower()
            key = ALIASES.get(key, key)
            if key in COLUMNS:
                columns[key] = c
            else:
                unknown.append(repr(c or ""))
        if unknown:
            result.errors.append(f"unknown column(s): {', '.join(unknown)}; expected: {COLUMNS_LIST}")
            return
        missing = [c for c in REQUIRED if c not in columns]
        if missing:
            result.errors.append(f"missing column(s): {', '.join(missing)}; expected: {COLUMNS_LIST}")
            return
        rows: list[tuple[str, float, float | None, str, dict[str, str], str]] = []
        for line_no, row in enumerate(reader, start=2):
            if line_no - 1 > MAX_ROWS:
                result.errors.append(f"stopped after {MAX_ROWS} rows")
                break
            values = {k: (row.get(orig) or "").strip() for k, orig in columns.items()}
            name = values.get("name", "")[:200]
            if not name:
                result.errors.append(f"line {line_no}: no name")
                continue
            try:
                start = parse_date(values["start"])
                end = parse_date(values["end"]) if values.get("end") else None
            except ValueError as exc:
                result.errors.append(f"line {line_no}: bad date ({exc})")
                continue
            if end is not None and end < start:
                result.errors.append(f"line {line_no}: end before start")
                continue
            raw_closure = values.get("closure_type") or ""
            extra = {k: v[:1000] for k, v in values.items() if k == "notes" and v}
            if raw_closure:
                extra["closure_type_raw"] = raw_closure[:100]
            rows.append((name, start, end, raw_closure, extra, values.get("source") or source))
        if not rows:
            return
        if as_of is None:
            as_of = max(max(start, end or start) for _, start, end, _, _, _ in rows)
        result.as_of = as_of
        for name, start, end, raw_closure, extra, row_source in rows:
            if end is None:
                # Open when the table was made: censored at the as-of date (never before its start).
                result.open_rows += 1
                extra["open_as_of"] = "true"
                end, closure = max(as_of, start), None
            else:
                # An end with no closure type: closed for an unknown reason.  An end with an explicit
                # "open"/"active": still open when the table was made, censored at that date.
                closure = normalise_closure(raw_closure or "retired")
            if store.add_history(name, start, end, closure, row_source, extra):
                result.imported += 1
            else:
                result.duplicates += 1
