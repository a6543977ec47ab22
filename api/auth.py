"""API keys and roles.

Roles: ``analyst`` (search, listings, vendors, exports, saved searches), ``platform:<name>``
(that platform's takedown feed only), ``operator`` (operator views), ``admin`` (everything,
including keys and the audit log).  Keys look like ``dn_<key id>_<secret>``; only a SHA-256 of
the whole key is stored (keys are 256-bit random, so a slow hash adds nothing), and the
plaintext is returned once, at creation.  ``settings.api.bootstrap_admin_key`` is an admin key
that needs no database row, so a fresh deployment can create the first real keys.

A key arrives in ``X-API-Key``, ``Authorization: Bearer`` or, for the browser UI, the
``dragnet_key`` cookie (HttpOnly, SameSite=Strict).  Missing or unknown key: 401; known key
with the wrong role: 403.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime

from fastapi import Request

from api import db
from dragnet.settings import DragnetSettings, get_settings

COOKIE_NAME = "dragnet_key"
BASE_ROLES = ("analyst", "operator", "admin")
_ROLE = re.compile(r"^(analyst|operator|admin|platform:[a-z0-9][a-z0-9_.-]{0,62})$")
_KEY = re.compile(r"^dn_([0-9a-f]{16})_([A-Za-z0-9_-]{20,100})$")


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

    def create_key(self, name: str, role: str) -> str:
        """Create a key; the plaintext is returned here and never again."""
        validate_role(role)
        key_id = secrets.token_hex(8)
        key = f"dn_{key_id}_{secrets.token_urlsafe(32)}"
        with db.connect(self.settings) as conn:
            conn.execute(
                "INSERT INTO api_keys(key_id, name, role, key_hash, created_at) VALUES (?,?,?,?,?)",
                (key_id, name[:200], role, _hash(key), datetime.now(UTC).isoformat()),
            )
        return key

    def revoke(self, key_id: str) -> bool:
        with db.connect(self.settings) as conn:
            changed = conn.execute(
                "UPDATE api_keys SET revoked_at = ? WHERE key_id = ? AND revoked_at IS NULL",
                (datetime.now(UTC).isoformat(), key_id),
            ).rowcount
        return bool(changed)

    def list_keys(self) -> list[dict[str, str | None]]:
        with db.connect(self.settings) as conn:
            rows = conn.execute(
                "SELECT key_id, name, role, created_at, revoked_at FROM api_keys ORDER BY created_at"
            ).fetchall()
        return [dict(row) for row in rows]

    def authenticate(self, key: str | None) -> Principal | None:
        """The principal for a key, or None (unknown, malformed or revoked)."""
        if not key:
            return None
        bootstrap = self.settings.api.bootstrap_admin_key
        if (
            bootstrap is not None
            and bootstrap.get_secret_value()
            and hmac.compare_digest(_hash(key), _hash(bootstrap.get_secret_value()))
        ):
            return Principal(key_id="bootstrap", name="bootstrap admin", role="admin")
        match = _KEY.match(key)
        if not match:
            return None
        with db.connect(self.settings) as conn:
            row = conn.execute(
                "SELECT key_id, name, role, key_hash, revoked_at FROM api_keys WHERE key_id = ?", (match.group(1),)
            ).fetchone()
        if row is None or row["revoked_at"] is not None or not hmac.compare_digest(row["key_hash"], _hash(key)):
            return None
        return Principal(key_id=row["key_id"], name=row["name"], role=row["role"])


def key_from_request(request: Request) -> str | None:
    """The key a request carries (header first, then bearer token, then the UI cookie)."""
    key = request.headers.get("x-api-key")
    if key:
        return key.strip()
    authorization = request.headers.get("authorization", "")
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return token.strip()
    return request.cookies.get(COOKIE_NAME) or None
