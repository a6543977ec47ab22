"""Import published tables of historical markets, so survival covers years before our probes.

CSV format (UTF-8, header row, comma-separated; column names are case-insensitive):

=============  ========  ==================================================================
column         required  meaning
=============  ========  ==================================================================
name           yes       market name ("Silk Road 2.0")
start          yes       first day open: ``YYYY-MM-DD`` (or ``YYYY-MM``, ISO datetime)
end            no        last day open; empty when still open (the record is censored)
closure_type   no        seized | exit_scam | retired (also: seizure, exit scam, voluntary,
                         closed, hacked...); empty or ``open`` when still open
source         no        where the row comes from (a paper, a dataset); default: file name
notes, ...     no        any other columns are kept with the record as ``extra``
=============  ========  ==================================================================

A row with an ``end`` but no ``closure_type`` counts as closed for an unknown reason (``retired``);
a row with an ``end`` and ``closure_type`` ``open`` was open when the table was made: it is
censored at ``end``.  A row without ``end`` is censored at the time of the report.
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


@dataclass
class ImportResult:
    imported: int = 0
    duplicates: int = 0
    errors: list[str] = field(default_factory=list)


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


def import_csv(store: LifespanStore, path: Path, source: str | None = None) -> ImportResult:
    """Load ``path`` into the store's history table."""
    result = ImportResult()
    source = source or path.name
    try:
        _read_rows(store, path, source, result)
    except UnicodeDecodeError as exc:
        result.errors.append(f"not UTF-8 text (byte {exc.start}): save the table as UTF-8 CSV")
    except csv.Error as exc:  # a field over the csv module's limit, a NUL byte, a broken quote
        result.errors.append(f"unreadable CSV: {exc}")
    return result


def _read_rows(store: LifespanStore, path: Path, source: str, result: ImportResult) -> None:
    with path.open(newline="", encoding="utf-8-sig") as fh:
        reader = csv.DictReader(fh)
        if reader.fieldnames is None:
            result.errors.append("empty file")
            return
        columns = {c.strip().lower(): c for c in reader.fieldnames if c}
        missing = [c for c in REQUIRED if c not in columns]
        if missing:
            result.errors.append(f"missing column(s): {', '.join(missing)}")
            return
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
            raw_closure = values.get("closure_type") or values.get("closure") or ""
            # An end with no closure type: closed for an unknown reason.  An end with an explicit
            # "open"/"active": still open when the table was made, censored at that date.
            closure = normalise_closure(raw_closure or "retired") if end is not None else None
            extra = {
                k: v[:1000]
                for k, v in values.items()
                if k not in {"name", "start", "end", "closure_type", "closure", "source"} and v
            }
            if raw_closure:
                extra["closure_type_raw"] = raw_closure[:100]
            if store.add_history(name, start, end, closure, values.get("source") or source, extra):
                result.imported += 1
            else:
                result.duplicates += 1
