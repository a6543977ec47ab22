"""One way to open the embedded stores' SQLite files (crawl versions, dead letters, notices,
lifespan, the embedded listing store, the API's keys and audit log).

Why one helper: each store used to set its own pragmas and only one set a busy timeout, so a
second process writing the same file (a worker beside ``dragnet serve``) could fail at once with
"database is locked".  Every connection now gets WAL (readers never block the writer), a busy
timeout, the store's durability level, and a file readable by its owner only (these files hold
scraped content, key hashes and the audit log).  Schemas are versioned with ``user_version``."""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Literal

BUSY_TIMEOUT_S = 30.0
FILE_MODE = 0o600
Synchronous = Literal["OFF", "NORMAL", "FULL"]
# one schema step: SQL run as a script, or a function given the connection
Migration = str | Callable[[sqlite3.Connection], None]


def connect(
    path: Path,
    *,
    synchronous: Synchronous = "NORMAL",
    autocommit: bool = False,
    check_same_thread: bool = False,
    row_factory: bool = False,
    temp_store_memory: bool = False,
) -> sqlite3.Connection:
    """Open ``path`` (creating its folder and the file, owner-only) with the shared pragmas.

    ``synchronous``: ``NORMAL`` with WAL never corrupts the file on a crash and may lose the
    last commits on a power cut, which every store here can redo; ``OFF`` for state that the
    next crawl rebuilds.  ``autocommit``: no implicit transactions (the caller issues ``BEGIN``
    itself).  ``row_factory``: rows as :class:`sqlite3.Row`."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        os.close(os.open(path, os.O_CREAT | os.O_WRONLY, FILE_MODE))
    if autocommit:
        conn = sqlite3.connect(path, timeout=BUSY_TIMEOUT_S, check_same_thread=check_same_thread, isolation_level=None)
    else:
        conn = sqlite3.connect(path, timeout=BUSY_TIMEOUT_S, check_same_thread=check_same_thread)
    conn.execute(f"PRAGMA busy_timeout={int(BUSY_TIMEOUT_S * 1000)}")
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute(f"PRAGMA synchronous={synchronous}")
    if temp_store_memory:
        conn.execute("PRAGMA temp_store=MEMORY")
    if row_factory:
        conn.row_factory = sqlite3.Row
    return conn


def migrate(conn: sqlite3.Connection, migrations: Sequence[Migration]) -> int:
    """Bring the schema to ``len(migrations)`` steps: each step not yet applied (by
    ``PRAGMA user_version``) runs and the version is raised after it.  The first step of every
    store creates its tables with ``IF NOT EXISTS``, so files written before versioning (at
    version 0, tables present) pass through it unchanged.  Returns the steps applied."""
    current = int(conn.execute("PRAGMA user_version").fetchone()[0])
    applied = 0
    for number, step in enumerate(migrations, start=1):
        if number <= current:
            continue
        if callable(step):
            step(conn)
        else:
            conn.executescript(step)
        conn.execute(f"PRAGMA user_version={number}")
        applied += 1
    if conn.in_transaction:
        conn.commit()
    return applied
