"""API keys and roles.

Roles: ``analyst`` (search, listings, vendors, exports, saved searches), ``platform:<name>``
(that platform's takedown feed only), ``operator`` (operator views), ``admin`` (everything,
including keys and the audit log).  Keys look like ``dn_<key id>_<secret>``; only a SHA-256 of
the whole key is stored (keys are 256-bit random, so a slow hash adds nothing), and the
plaintext is returned once, at creation.  Keys expire (``api.key_ttl_days``, per key at
creation) and can be listed, revoked and rotated (``dragnet keys``, ``/api/keys``).

``settings.api.bootstrap_admin_key`` is an admin key that needs no database row, so a fresh
deployment can create the first real keys.  It must be at least :data:`MIN_BOOTSTRAP_CHARS`
long, and it retires itself: once a live admin key exists in the database, it is refused.

A key arrives in ``X-API-Key`` or ``Authorization: Bearer``.  The browser UI exchanges the key
for a server-side session at login: its ``dragnet_key`` cookie (HttpOnly, SameSite=Strict)
holds a random session token, never the key, and only the token's SHA-256 is stored; logging
out, revoking the key or its expiry ends the session.  Missing or unknown key: 401; known key
with the wrong role: 403.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from fastapi import Request

from api import db
from dragnet.settings import DragnetSettings, get_settings

COOKIE_NAME = "dragnet_key"
BASE_ROLES = ("analyst", "operator", "admin")
_ROLE = re.compile(r"^(analyst|operator|admin|platform:[a-z0-9][a-z0-9_.-]{0,62})$")
_KEY = re.compile(r"^dn_([0-9a-f]{16})_([A-Za-z0-9_-]{20,100})$")
MIN_BOOTSTRAP_CHARS = 32  # `openssl rand -hex 24` gives 48
SESSION_LIFETIME = timedelta(hours=12)


@dataclass(frozen=True)
class Principal:
    """Who is calling: the key's id (never the key), a display name and a role."""

    key_id: str
    name: str
    role: str

    @property
    def platform(self) -> str | None:
        """The platform a ``platform:<name>`` key belongs to, else None."""
        return self.role.split(":", 1)[1] if self.role.startswith("platform:") else None

    def has_role(self, *roles: str) -> bool:
        """``admin`` passes everything; ``"platform"`` matches any ``platform:*`` role."""
        if self.role == "admin":
            return True
        for role in roles:
            if role == self.role or (role == "platform" and self.platform is not None):
                return True
        return False


def _hash(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def validate_role(role: str) -> str:
    if not _ROLE.match(role):
        raise ValueError(f"unknown role {role!r}: analyst, operator, admin or platform:<name>")
    return role


class KeyStore:
    """API keys in the API database."""

    def __init__(self, settings: DragnetSettings | None = None) -> None:
        self.settings = settings or get_settings()

    def create_key(self, name: str, role: str, ttl_days: float | None = -1.0) -> str:
        """Create a key; the plaintext is returned here and never again.  ``ttl_days``: days
        until it expires (None: never; the default: ``api.key_ttl_days``)."""
        validate_role(role)
        if ttl_days is not None and ttl_days < 0:
            ttl_days = self.settings.api.key_ttl_days
        if ttl_days is not None and ttl_days <= 0:
            raise ValueError("a key must live a positive number of days")
        key_id = secrets.token_hex(8)
        key = f"dn_{key_id}_{secrets.token_urlsafe(32)}"
        now = datetime.now(UTC)
        expires = (now + timedelta(days=ttl_days)).isoformat() if ttl_days is not None else None
        with db.connect(self.settings) as conn:
            conn.execute(
                "INSERT INTO api_keys(key_id, name, role, key_hash, created_at, expires_at) VALUES (?,?,?,?,?,?)",
                (key_id, name[:200], role, _hash(key), now.isoformat(), expires),
            )
        return key

    def revoke(self, key_id: str) -> bool:
        with db.connect(self.settings) as conn:
            changed = conn.execute(
                "UPDATE api_keys SET revoked_at = ? WHERE key_id = ? AND revoked_at IS NULL",
                (datetime.now(UTC).isoformat(), key_id),
            ).rowcount
        return bool(changed)

    def rotate(self, key_id: str) -> str:
        """A new key for the same holder, role and lifetime; the old one is revoked.  KeyError
        for a key that is unknown, revoked or expired (those are replaced with a new key)."""
        with db.connect(self.settings) as conn:
            row = conn.execute(
                "SELECT name, role, created_at, expires_at FROM api_keys WHERE key_id = ? AND revoked_at IS NULL",
                (key_id,),
            ).fetchone()
        if row is None or _expired(row["expires_at"]):
            raise KeyError(key_id)
        ttl: float | None = None
        if row["expires_at"]:
            lived = datetime.fromisoformat(row["expires_at"]) - datetime.fromisoformat(row["created_at"])
            ttl = max(lived.total_seconds() / 86400, 1 / 24)
        new_key = self.create_key(row["name"], row["role"], ttl_days=ttl)
        self.revoke(key_id)
        return new_key

    def list_keys(self) -> list[dict[str, str | None]]:
        """Every key's id, holder, role, dates and state (active, expired or revoked)."""
        with db.connect(self.settings) as conn:
            rows = conn.execute(
                "SELECT key_id, name, role, created_at, expires_at, revoked_at FROM api_keys ORDER BY created_at"
            ).fetchall()
        out = []
        for row in rows:
            entry = dict(row)
            expired = _expired(row["expires_at"])
            entry["state"] = "revoked" if row["revoked_at"] else ("expired" if expired else "active")
            out.append(entry)
        return out

    def open_session(self, key: str) -> str | None:
        """Log a browser in: a session token for a valid key (None otherwise)."""
        principal = self.authenticate(key)
        if principal is None:
            return None
        token = secrets.token_urlsafe(32)
        now = datetime.now(UTC)
        with db.connect(self.settings) as conn:
            conn.execute("DELETE FROM ui_sessions WHERE expires_at <= ?", (now.isoformat(),))
            conn.execute(
                "INSERT INTO ui_sessions(token_hash, key_id, created_at, expires_at) VALUES (?,?,?,?)",
                (_hash(token), principal.key_id, now.isoformat(), (now + SESSION_LIFETIME).isoformat()),
            )
        return token

    def session_principal(self, token: str | None) -> Principal | None:
        """Who a session belongs to, while the session and its key are both alive."""
        if not token or len(token) > 200:
            return None
        with db.connect(self.settings) as conn:
            row = conn.execute(
                "SELECT key_id, expires_at FROM ui_sessions WHERE token_hash = ?", (_hash(token),)
            ).fetchone()
            if row is None or _expired(row["expires_at"]):
                return None
            if row["key_id"] == "bootstrap":
                live = self.settings.api.bootstrap_admin_key is not None and not self.has_live_admin()
                return Principal("bootstrap", "bootstrap admin", "admin") if live else None
            key = conn.execute(
                "SELECT key_id, name, role, revoked_at, expires_at FROM api_keys WHERE key_id = ?", (row["key_id"],)
            ).fetchone()
        if key is None or key["revoked_at"] is not None or _expired(key["expires_at"]):
            return None
        return Principal(key_id=key["key_id"], name=key["name"], role=key["role"])

    def close_session(self, token: str | None) -> None:
        if token:
            with db.connect(self.settings) as conn:
                conn.execute("DELETE FROM ui_sessions WHERE token_hash = ?", (_hash(token),))

    def has_live_admin(self) -> bool:
        with db.connect(self.settings) as conn:
            rows = conn.execute(
                "SELECT expires_at FROM api_keys WHERE role = 'admin' AND revoked_at IS NULL"
            ).fetchall()
        return any(not _expired(row["expires_at"]) for row in rows)

    def authenticate(self, key: str | None) -> Principal | None:
        """The principal for a key, or None (unknown, malformed or revoked)."""
        if not key:
            return None
        bootstrap = self.settings.api.bootstrap_admin_key
        if (
            bootstrap is not None
            and len(bootstrap.get_secret_value()) >= MIN_BOOTSTRAP_CHARS
            and hmac.compare_digest(_hash(key), _hash(bootstrap.get_secret_value()))
        ):
            # retired once a real admin key exists: the bootstrap key lives in config files
            return None if self.has_live_admin() else Principal("bootstrap", "bootstrap admin", "admin")
        match = _KEY.match(key)
        if not match:
            return None
        with db.connect(self.settings) as conn:
            row = conn.execute(
                "SELECT key_id, name, role, key_hash, revoked_at, expires_at FROM api_keys WHERE key_id = ?",
                (match.group(1),),
            ).fetchone()
        if row is None or row["revoked_at"] is not None or not hmac.compare_digest(row["key_hash"], _hash(key)):
            return None
        if _expired(row["expires_at"]):
            return None
        return Principal(key_id=row["key_id"], name=row["name"], role=row["role"])


def _expired(expires_at: str | None) -> bool:
    return expires_at is not None and datetime.fromisoformat(expires_at) <= datetime.now(UTC)


def key_from_request(request: Request) -> str | None:
    """The key a request carries (header first, then bearer token); the UI cookie carries a
    session token instead (:meth:`KeyStore.session_principal`)."""
    key = request.headers.get("x-api-key")
    if key:
        return key.strip()
    authorization = request.headers.get("authorization", "")
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return token.strip()
    return None


def session_from_request(request: Request) -> str | None:
    return request.cookies.get(COOKIE_NAME) or None
