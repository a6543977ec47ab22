"""Saved searches and their alerts.

A saved search is a query string (the same parameters the search page uses) plus an optional
webhook.  When it is created, the listings it already matches are remembered; each check runs
the query again and POSTs the listings not seen before to the webhook as JSON.  A failed
delivery leaves them unseen, so the next check tries again; ``last_error`` says what went wrong.
"""

from __future__ import annotations

import json
import logging
import secrets
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import httpx
from pydantic import BaseModel, Field

from api import audit, db
from api.auth import Principal
from api.params import clean_params, describe, refuse_unknown, to_query
from dragnet.documents import Listing
from dragnet.outbound import Target, WebhookURLError, check_url, pinned_client, signed_headers
from dragnet.secretbox import seal, unseal
from dragnet.settings import DragnetSettings
from index.store import ListingStore

log = logging.getLogger(__name__)
MAX_SEEN = 20_000
CHECK_SIZE = 200


class SavedSearch(BaseModel):
    id: str
    owner: str
    owner_key_id: str
    name: str
    params: dict[str, list[str]]
    webhook_url: str | None = None
    created_at: datetime
    last_checked_at: datetime | None = None
    last_error: str | None = None
    alerts_sent: int = 0
    webhook_secret: str | None = Field(
        None, description="HMAC key of the alert signatures; returned once, when the search is saved"
    )

    @property
    def query_string(self) -> str:
        return describe(self.params)


class CheckOutcome(BaseModel):
    saved_search_id: str
    new: int
    delivered: bool
    error: str | None = None


def validate_webhook(url: str | None, settings: DragnetSettings) -> str | None:
    """The platform webhooks' policy: http(s), and public addresses only unless
    ``feeds.webhook_allow_private`` (an analyst must not make Dragnet probe the internal network)."""
    if not url:
        return None
    return _target(url, settings).url


def _target(url: str, settings: DragnetSettings) -> Target:
    return check_url(url, allow_private=settings.feeds.webhook_allow_private, https_only=settings.env == "prod")


def _row(row: Any) -> SavedSearch:
    return SavedSearch(
        id=row["id"],
        owner=row["owner"],
        owner_key_id=row["owner_key_id"],
        name=row["name"],
        params=json.loads(row["query_json"]),
        webhook_url=row["webhook_url"],
        created_at=row["created_at"],
        last_checked_at=row["last_checked_at"],
        last_error=row["last_error"],
        alerts_sent=row["alerts_sent"],
        webhook_secret=None,  # never read back: it was shown once, at creation
    )


def _matching_ids(store: ListingStore, params: dict[str, list[str]]) -> list[str]:
    query = to_query(params, size=CHECK_SIZE, facets=False, highlight=False).model_copy(update={"sort": "newest"})
    return [hit.listing.id for hit in store.search(query).hits]


def create_saved_search(
    settings: DragnetSettings,
    store: ListingStore,
    principal: Principal,
    name: str,
    params: Any,
    webhook_url: str | None,
) -> SavedSearch:
    """Save a search; what it matches now is the baseline, so only later listings alert."""
    refuse_unknown(params, ())
    cleaned = clean_params(params)
    to_query(cleaned)  # refuse a bad query now rather than at every check
    webhook = validate_webhook(webhook_url, settings)
    secret = secrets.token_urlsafe(32) if webhook else None
    seen = _matching_ids(store, cleaned)
    saved_id = secrets.token_hex(8)
    now = datetime.now(UTC).isoformat()
    with db.connect(settings) as conn:
        conn.execute(
            "INSERT INTO saved_searches(id, owner_key_id, owner, name, query_json, webhook_url, created_at, "
            "last_checked_at, seen_ids, webhook_secret) VALUES (?,?,?,?,?,?,?,?,?,?)",
            (
                saved_id,
                principal.key_id,
                principal.name,
                (name.strip() or "saved search")[:200],
                json.dumps(cleaned),
                webhook,
                now,
                now,
                json.dumps(seen),
                seal(secret, settings) if secret else None,
            ),
        )
    got = get_saved_search(settings, saved_id)
    assert got is not None
    target = f" webhook={urlsplit(webhook).hostname}" if webhook else ""
    audit.record(principal, "saved_search.create", f"{saved_id} {describe(cleaned)}{target}", len(seen), settings)
    return got.model_copy(update={"webhook_secret": secret})


def get_saved_search(settings: DragnetSettings, saved_id: str) -> SavedSearch | None:
    with db.connect(settings) as conn:
        row = conn.execute("SELECT * FROM saved_searches WHERE id = ?", (saved_id,)).fetchone()
    return _row(row) if row else None


def list_saved_searches(settings: DragnetSettings, principal: Principal | None = None) -> list[SavedSearch]:
    """A principal's own saved searches (an admin sees everyone's; None: all, for the checker)."""
    with db.connect(settings) as conn:
        if principal is None or principal.role == "admin":
            rows = conn.execute("SELECT * FROM saved_searches ORDER BY created_at").fetchall()
        else:
            rows = conn.execute(
                "SELECT * FROM saved_searches WHERE owner_key_id = ? ORDER BY created_at", (principal.key_id,)
            ).fetchall()
    return [_row(r) for r in rows]


def delete_saved_search(settings: DragnetSettings, principal: Principal, saved_id: str) -> bool:
    with db.connect(settings) as conn:
        if principal.role == "admin":
            deleted = bool(conn.execute("DELETE FROM saved_searches WHERE id = ?", (saved_id,)).rowcount)
        else:
            deleted = bool(
                conn.execute(
                    "DELETE FROM saved_searches WHERE id = ? AND owner_key_id = ?", (saved_id, principal.key_id)
                ).rowcount
            )
    audit.record(principal, "saved_search.delete", saved_id, int(deleted), settings)
    return deleted


def _payload(saved: SavedSearch, listings: list[Listing], settings: DragnetSettings) -> dict[str, Any]:
    base = (settings.api.public_url or f"http://{settings.api.host}:{settings.api.port}").rstrip("/")
    return {
        "saved_search": {"id": saved.id, "name": saved.name, "query": saved.query_string},
        "sent_at": datetime.now(UTC).isoformat(),
        "total_new": len(listings),
        "listings": [
            {
                "id": entry.id,
                "title": entry.title,
                "url": entry.url,
                "market": entry.market,
                "platform": entry.platform,
                "vendor": entry.vendor.name if entry.vendor else None,
                "price_usd": entry.price.usd if entry.price else None,
                "score": entry.classification.score if entry.classification else None,
                "last_seen": entry.last_seen.isoformat() if entry.last_seen else None,
                "link": f"{base}/listings/{entry.id}",
            }
            for entry in listings
        ],
    }


def check_saved_search(
    settings: DragnetSettings, store: ListingStore, saved_id: str, by: Principal | None = None
) -> CheckOutcome:
    """Run one saved search; deliver what is new to its webhook.  Audited: ``by`` is the analyst
    who asked (None for the scheduled checks of ``dragnet serve``)."""
    with db.connect(settings) as conn:
        row = conn.execute("SELECT * FROM saved_searches WHERE id = ?", (saved_id,)).fetchone()
    if row is None:
        raise KeyError(saved_id)
    saved = _row(row)
    seen = json.loads(row["seen_ids"])
    seen_set = set(seen)
    current = _matching_ids(store, saved.params)
    new_ids = [i for i in current if i not in seen_set]
    now = datetime.now(UTC).isoformat()
    error: str | None = None
    delivered = False
    if new_ids and saved.webhook_url:
        listings = store.get_many(new_ids)
        body = json.dumps(_payload(saved, listings, settings), sort_keys=True).encode()
        headers = {"Content-Type": "application/json", "X-Dragnet-Saved-Search": saved.id}
        headers.update(signed_headers(unseal(row["webhook_secret"] or "", settings), body))
        try:  # the policy is checked again now, and the connection goes to the address checked
            with pinned_client(_target(saved.webhook_url, settings), settings.api.alert_timeout_s) as client:
                response = client.post(saved.webhook_url, content=body, headers=headers)
            # whether it worked, not what the target said: an alert is no probe of other servers
            delivered = 200 <= response.status_code < 300
            error = None if delivered else "the webhook refused the alert"
        except WebhookURLError as exc:
            error = f"webhook refused: {exc}"
        except httpx.HTTPError:
            error = "webhook unreachable"
    elif new_ids:
        delivered = True  # no webhook: the saved-search page shows them; nothing to deliver
    with db.connect(settings) as conn:
        if delivered:
            merged = (new_ids + seen)[:MAX_SEEN]
            conn.execute(
                "UPDATE saved_searches SET seen_ids = ?, last_checked_at = ?, last_error = NULL, "
                "alerts_sent = alerts_sent + ? WHERE id = ?",
                (json.dumps(merged), now, 1 if saved.webhook_url else 0, saved.id),
            )
        else:
            conn.execute(
                "UPDATE saved_searches SET last_checked_at = ?, last_error = ? WHERE id = ?", (now, error, saved.id)
            )
    if error:
        log.warning("saved search %s: %s", saved.id, error)
    outcome = "delivered" if delivered and saved.webhook_url else ("failed" if error else "nothing to deliver")
    audit.record(by, "saved_search.check", f"{saved.id} {outcome}", len(new_ids), settings)
    return CheckOutcome(saved_search_id=saved.id, new=len(new_ids), delivered=delivered, error=error)


def check_all(settings: DragnetSettings, store: ListingStore) -> list[CheckOutcome]:
    """Check every saved search (the `dragnet serve` loop calls this every alert_interval_s)."""
    outcomes = []
    for saved in list_saved_searches(settings):
        try:
            outcomes.append(check_saved_search(settings, store, saved.id))
        except Exception as exc:
            log.exception("saved search %s failed", saved.id)
            outcomes.append(CheckOutcome(saved_search_id=saved.id, new=0, delivered=False, error=str(exc)[:300]))
    return outcomes
