"""The API's own small database (keys, audit log, saved searches, cases): one SQLite file next to the
data, separate from the listing store so that switching the store to OpenSearch keeps them."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

from dragnet import sqlite
from dragnet.settings import DragnetSettings

_SCHEMA = """
CREATE TABLE IF NOT EXISTS api_keys (
    key_id TEXT PRIMARY KEY, name TEXT NOT NULL, role TEXT NOT NULL, key_hash TEXT NOT NULL,
    created_at TEXT NOT NULL, revoked_at TEXT
);
CREATE TABLE IF NOT EXISTS audit_log (
    id INTEGER PRIMARY KEY AUTOINCREMENT, at TEXT NOT NULL, key_id TEXT, who TEXT NOT NULL, role TEXT,
    action TEXT NOT NULL, query TEXT NOT NULL, result_count INTEGER
);
CREATE INDEX IF NOT EXISTS audit_at ON audit_log(at);
CREATE TABLE IF NOT EXISTS saved_searches (
    id TEXT PRIMARY KEY, owner_key_id TEXT NOT NULL, owner TEXT NOT NULL, name TEXT NOT NULL,
    query_json TEXT NOT NULL, webhook_url TEXT, created_at TEXT NOT NULL, last_checked_at TEXT,
    seen_ids TEXT NOT NULL DEFAULT '[]', last_error TEXT, alerts_sent INTEGER NOT NULL DEFAULT 0
);
"""

# step 2: saved-search alerts are signed like the platform webhooks (rows saved before have none)
_ADD_WEBHOOK_SECRET = "ALTER TABLE saved_searches ADD COLUMN webhook_secret TEXT;"

# step 3: keys expire (NULL: a key made before expiry existed, or made to never expire)
_ADD_KEY_EXPIRY = "ALTER TABLE api_keys ADD COLUMN expires_at TEXT;"

# step 4: the browser UI holds a session token, not the API key (only the token's hash is kept)
_ADD_UI_SESSIONS = """
CREATE TABLE IF NOT EXISTS ui_sessions (
    token_hash TEXT PRIMARY KEY, key_id TEXT NOT NULL, created_at TEXT NOT NULL, expires_at TEXT NOT NULL
);
"""

# step 5: the platforms' scan API remembers verdicts by hashes (post id, text), never the text,
# and counts each platform's posts per rolling minute (its quota)
_ADD_SCAN = """
CREATE TABLE IF NOT EXISTS scan_verdicts (
    platform TEXT NOT NULL, post_key TEXT NOT NULL, content_sha256 TEXT NOT NULL, verdict_json TEXT NOT NULL,
    is_drug_sale INTEGER NOT NULL, created_at TEXT NOT NULL, PRIMARY KEY (platform, post_key, content_sha256)
);
CREATE INDEX IF NOT EXISTS scan_verdicts_created ON scan_verdicts(created_at);
CREATE TABLE IF NOT EXISTS scan_usage (platform TEXT NOT NULL, at REAL NOT NULL, posts INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS scan_usage_at ON scan_usage(platform, at);
"""

# step 6: case folders: listings gathered by analysts, with notes, tags and their own trail of who
# added what (the audit log records the same changes; the trail travels with the case's export)
_ADD_CASES = """
CREATE TABLE IF NOT EXISTS cases (
    id TEXT PRIMARY KEY, name TEXT NOT NULL, description TEXT NOT NULL DEFAULT '', created_by TEXT NOT NULL,
    created_key_id TEXT, created_at TEXT NOT NULL, status TEXT NOT NULL DEFAULT 'open', closed_at TEXT
);
CREATE TABLE IF NOT EXISTS case_listings (
    case_id TEXT NOT NULL, listing_id TEXT NOT NULL, added_by TEXT NOT NULL, added_at TEXT NOT NULL,
    PRIMARY KEY (case_id, listing_id)
);
CREATE TABLE IF NOT EXISTS case_notes (
    id INTEGER PRIMARY KEY AUTOINCREMENT, case_id TEXT NOT NULL, author TEXT NOT NULL, at TEXT NOT NULL,
    text TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS case_notes_case ON case_notes(case_id);
CREATE TABLE IF NOT EXISTS case_tags (case_id TEXT NOT NULL, tag TEXT NOT NULL, PRIMARY KEY (case_id, tag));
CREATE TABLE IF NOT EXISTS case_events (
    id INTEGER PRIMARY KEY AUTOINCREMENT, case_id TEXT NOT NULL, at TEXT NOT NULL, who TEXT NOT NULL,
    action TEXT NOT NULL, listing_id TEXT, detail TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS case_events_case ON case_events(case_id);
"""

# step 7: analysts' vendor-identity merges (alias keys name@market), reversible: an unmerge
# stamps removed_at/removed_by, the row stays as the record of both decisions
_ADD_VENDOR_MERGES = """
CREATE TABLE IF NOT EXISTS vendor_merges (
    id INTEGER PRIMARY KEY AUTOINCREMENT, a TEXT NOT NULL, b TEXT NOT NULL, note TEXT NOT NULL,
    by TEXT NOT NULL, created_at TEXT NOT NULL, removed_at TEXT, removed_by TEXT, removed_note TEXT
);
CREATE INDEX IF NOT EXISTS vendor_merges_pair ON vendor_merges(a, b);
"""

_lock = threading.Lock()
_initialised: set[Path] = set()


def db_path(settings: DragnetSettings) -> Path:
    return settings.api.db_path or settings.paths.data_dir / "api.sqlite3"


def connect(settings: DragnetSettings) -> sqlite3.Connection:
    """A fresh connection (cheap with SQLite; avoids sharing one across FastAPI's threads)."""
    path = db_path(settings)
    conn = sqlite.connect(path, row_factory=True)
    with _lock:
        if path not in _initialised:
            sqlite.migrate(
                conn,
                [
                    _SCHEMA,
                    _ADD_WEBHOOK_SECRET,
                    _ADD_KEY_EXPIRY,
                    _ADD_UI_SESSIONS,
                    _ADD_SCAN,
                    _ADD_CASES,
                    _ADD_VENDOR_MERGES,
                ],
            )
            _initialised.add(path)
    return conn
