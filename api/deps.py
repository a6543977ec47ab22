"""The FastAPI dependencies every router shares: the settings, the listing store and the
role checks.  Routers import them from here, never from the application module, so that the
application imports its routers and nothing imports it back."""

from __future__ import annotations

import threading
from collections.abc import Callable

from fastapi import HTTPException, Request, Security, status
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from api import audit
from api.auth import KeyStore, Principal, key_from_request, session_from_request, validate_role
from dragnet.settings import DragnetSettings, get_settings
from index.factory import open_store
from index.store import ListingStore, StoreError

_store_lock = threading.Lock()
# Declared for OpenAPI (``components.securitySchemes`` and each keyed route's ``security``): either
# one will do.  They never refuse by themselves (auto_error=False); require_roles decides.
API_KEY_SCHEME = APIKeyHeader(
    name="X-API-Key", scheme_name="ApiKeyAuth", auto_error=False, description="A Dragnet API key (dn_<id>_<secret>)."
)
BEARER_SCHEME = HTTPBearer(
    scheme_name="BearerAuth", auto_error=False, description="The same API key as Authorization: Bearer <key>."
)
_SHOWS_API_KEY = Security(API_KEY_SCHEME)
_SHOWS_BEARER = Security(BEARER_SCHEME)


def settings_of(request: Request) -> DragnetSettings:
    """The settings the application was created with (else the process's)."""
    return getattr(request.app.state, "settings", None) or get_settings()


def get_store(request: Request) -> ListingStore:
    """The app's listing store (opened on first use, so the app starts even while the engine
    is still coming up)."""
    app = request.app
    store = getattr(app.state, "store", None)
    if store is None:
        with _store_lock:
            store = getattr(app.state, "store", None)
            if store is None:
                store = open_store(app.state.settings)
                app.state.store = store
    return store


def listing_store(request: Request) -> ListingStore:
    """:func:`get_store`, with an unreachable store answered as 503 instead of a server error."""
    try:
        return get_store(request)
    except StoreError as exc:
        raise HTTPException(503, detail=f"the listing store is unavailable: {exc}") from exc


def current_principal(request: Request) -> Principal | None:
    """The authenticated principal, or None; cached on the request."""
    if hasattr(request.state, "principal"):
        return request.state.principal
    keys = KeyStore(settings_of(request))
    key = key_from_request(request)
    principal = keys.authenticate(key) if key else keys.session_principal(session_from_request(request))
    request.state.principal = principal
    return principal


def _audit_failed_login(request: Request) -> None:
    """A request that showed a key we do not accept (not one that showed none: a browser's first
    visit is no attack).  The key itself is never written, only its id part if it has one."""
    key = key_from_request(request)
    if key:
        shown = key.split("_")[1][:16] if key.startswith("dn_") and key.count("_") >= 2 else "(not a Dragnet key)"
        where = f"{request.method} {request.url.path}"
        audit.record(None, "auth.failed", f"{where} key_id={shown}", None, settings_of(request))


def require_roles(*roles: str) -> Callable[[Request], Principal]:
    """FastAPI dependency: 401 without a valid key, 403 when its role is not among ``roles``."""
    for role in roles:
        if role != "platform":
            validate_role(role)

    def dependency(
        request: Request,
        _api_key: str | None = _SHOWS_API_KEY,
        _bearer: HTTPAuthorizationCredentials | None = _SHOWS_BEARER,
    ) -> Principal:
        principal = current_principal(request)
        if principal is None:
            _audit_failed_login(request)
            raise HTTPException(
                status.HTTP_401_UNAUTHORIZED,
                "a valid API key is required (X-API-Key header)",
                headers={"WWW-Authenticate": "Bearer"},
            )
        if not principal.has_role(*roles):
            raise HTTPException(status.HTTP_403_FORBIDDEN, f"role {principal.role!r} may not do this")
        return principal

    dependency.__name__ = f"require_{'_'.join(r.replace(':', '_') for r in roles) or 'any'}"
    return dependency
