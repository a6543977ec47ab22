"""The SQLite helper every embedded store opens its file with: pragmas, file mode, migrations,
and a second writer that waits for the lock instead of failing."""

from __future__ import annotations

import sqlite3
import stat
import threading
import time
from pathlib import Path

import pytest

from api import db as api_db
from crawlers.pipelines import VersionPipeline
from crawlers.telegram import TelegramState
from dragnet import sqlite
from dragnet.settings import DragnetSettings, use_settings
from index.backends.embedded import EmbeddedStore
from lifespan.store import LifespanStore
from takedown.store import SqliteNoticeStore
from workers.dlq import SqliteDeadLetterQueue


def _file_state(path: Path) -> tuple[str, int, int]:
    """(journal mode, schema version, file mode) as a plain connection reads them from the file:
    WAL and ``user_version`` persist in the file, so they show how it was opened and migrated."""
    conn = sqlite3.connect(path)
    try:
        journal = conn.execute("PRAGMA journal_mode").fetchone()[0]
        version = conn.execute("PRAGMA user_version").fetchone()[0]
    finally:
        conn.close()
    return journal, version, stat.S_IMODE(path.stat().st_mode)


def test_a_new_file_is_owner_only_in_wal_with_a_busy_timeout(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "store.sqlite3"
    conn = sqlite.connect(path)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("PRAGMA busy_timeout").fetchone()[0] == 30_000
    assert conn.execute("PRAGMA synchronous").fetchone()[0] == 1  # NORMAL
    conn.close()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_migrations_run_once_each_in_order(tmp_path: Path) -> None:
    path = tmp_path / "m.sqlite3"
    ran: list[str] = []
    steps: list[sqlite.Migration] = ["CREATE TABLE IF NOT EXISTS t (a TEXT)", lambda c: ran.append("two")]
    conn = sqlite.connect(path)
    assert sqlite.migrate(conn, steps) == 2
    assert sqlite.migrate(conn, steps) == 0 and ran == ["two"]
    steps.append("ALTER TABLE t ADD COLUMN b TEXT")
    assert sqlite.migrate(conn, steps) == 1
    assert [row[1] for row in conn.execute("PRAGMA table_info(t)")] == ["a", "b"]
    assert conn.execute("PRAGMA user_version").fetchone()[0] == 3


def test_a_second_writer_waits_for_the_lock_instead_of_failing(tmp_path: Path) -> None:
    path = tmp_path / "w.sqlite3"
    first = sqlite.connect(path, autocommit=True, check_same_thread=False)
    first.execute("CREATE TABLE t (a INTEGER)")
    first.execute("BEGIN IMMEDIATE")
    first.execute("INSERT INTO t VALUES (1)")
    release = threading.Timer(0.5, lambda: first.execute("COMMIT"))
    release.start()
    second = sqlite.connect(path, autocommit=True)
    started = time.monotonic()
    second.execute("INSERT INTO t VALUES (2)")  # without a busy timeout: "database is locked" at once
    assert time.monotonic() - started >= 0.3
    assert sorted(r[0] for r in second.execute("SELECT a FROM t")) == [1, 2]
    release.join()


def test_plain_sqlite3_without_the_helper_fails_at_once(tmp_path: Path) -> None:
    """The failure the helper exists for: a connection without a busy timeout."""
    path = tmp_path / "w.sqlite3"
    first = sqlite.connect(path, autocommit=True)
    first.execute("CREATE TABLE t (a INTEGER)")
    first.execute("BEGIN IMMEDIATE")
    plain = sqlite3.connect(path, timeout=0, isolation_level=None)
    with pytest.raises(sqlite3.OperationalError, match="locked"):
        plain.execute("INSERT INTO t VALUES (2)")
    first.execute("ROLLBACK")


def test_every_embedded_store_opens_its_file_through_the_helper(settings: DragnetSettings, tmp_path: Path) -> None:
    use_settings(settings)
    data = settings.paths.data_dir
    files: dict[str, Path] = {}
    store = EmbeddedStore(data / "listings.sqlite3")
    store.ensure_schema()
    store.close()
    files["embedded listing store"] = data / "listings.sqlite3"
    SqliteNoticeStore(data / "feeds.sqlite3").close()
    files["takedown notices"] = data / "feeds.sqlite3"
    LifespanStore(data / "lifespan.sqlite3", settings=settings).close()
    files["lifespan"] = data / "lifespan.sqlite3"
    SqliteDeadLetterQueue(data / "dlq.sqlite3")
    files["dead letters"] = data / "dlq.sqlite3"
    api_db.connect(settings).close()
    files["api keys and audit"] = api_db.db_path(settings)
    pipeline = VersionPipeline(None)
    pipeline.close_spider()
    files["crawl versions"] = data / "crawl_state.sqlite3"
    TelegramState(data / "telegram.sqlite3").close()
    files["telegram channels"] = data / "telegram.sqlite3"
    # steps past the first: the listing store added the intent to facet_key, then the folded
    # search columns; the API database added saved-search secrets, key expiry, UI sessions, scan verdicts, cases;
    # the lifespan store added analysts' reviews of transitions; the takedown store webhook secret rotation
    versions = {"embedded listing store": 4, "api keys and audit": 7, "lifespan": 2, "takedown notices": 2}
    for name, path in files.items():
        assert _file_state(path) == ("wal", versions.get(name, 1), 0o600), name
