"""The listing document: the one record shape that crawlers emit, workers pass on and the
index stores.  See ``DESIGN.md`` (data model).  Every part imports these models rather than
passing loose dicts around, so that a field renamed here fails loudly everywhere.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, date, datetime
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit, urlunsplit

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator

SourceKind = Literal["market", "forum", "social", "channel"]
TakedownStatus = Literal["new", "approved", "sent", "acknowledged", "need_more_info", "removed", "rejected", "expired"]

SUBSTANCES: tuple[str, ...] = (
    "opioids",
    "stimulants",
    "cannabis",
    "psychedelics",
    "dissociatives",
    "benzodiazepines",
    "other_rx",
)
# What a post is for.  A drug-sale verdict is the ``sell`` intent; the others say what a post
# that is not a sale is instead (a buyer, news, harm reduction, a legal shop, other illicit goods).
Intent = Literal["sell", "buy", "discussion", "news", "harm_reduction", "legit_commerce", "other_illicit", "other"]
INTENTS: tuple[Intent, ...] = (
    "sell",
    "buy",
    "discussion",
    "news",
    "harm_reduction",
    "legit_commerce",
    "other_illicit",
    "other",
)


def utcnow() -> datetime:
    return datetime.now(UTC)


def canonicalize_url(url: str) -> str:
    """Lower-case scheme and host, drop the fragment and default ports, so mirrors of the same
    path on the same host produce the same key."""
    parts = urlsplit(url.strip())
    host = (parts.hostname or "").lower()
    port = parts.port
    netloc = host if port in (None, 80, 443) else f"{host}:{port}"
    path = parts.path or "/"
    return urlunsplit((parts.scheme.lower(), netloc, path, parts.query, ""))


def listing_id(canonical_url: str) -> str:
    """Stable id of a listing: a new version of the same URL keeps its id."""
    return hashlib.sha256(canonical_url.encode("utf-8")).hexdigest()[:32]


def content_sha256(data: bytes | str) -> str:
    if isinstance(data, str):
        data = data.encode("utf-8", "surrogatepass")
    return hashlib.sha256(data).hexdigest()


class _Model(BaseModel):
    # No inf or NaN anywhere: JSON cannot carry them (they are written as null, and the stored
    # document no longer validates when read back), so a hostile "price" of 400 digits must be
    # refused where the document is built, never stored.
    model_config = ConfigDict(extra="forbid", populate_by_name=True, allow_inf_nan=False)


# Larger than any real price or quantity in any currency, far below what a float or the engine's
# double loses precision on: a number above it is a parsing accident or an attack.
MAX_AMOUNT = 1e12


# Caps of the short strings a site profile reads off a page (scraped content is hostile: a
# "category" of a megabyte is an attack, not a category).  Longer values are cut, not refused:
# the listing is still worth keeping.
MAX_SHORT_CHARS = 256
MAX_ATTRIBUTE_CHARS = 2000
MAX_LIST_ITEMS = 50
MAX_ATTRIBUTES = 40
MAX_OFFERS = 50


def _cut(limit: int) -> AfterValidator:
    return AfterValidator(lambda value: value[:limit])


ShortText = Annotated[str, _cut(MAX_SHORT_CHARS)]
ShortList = Annotated[list[ShortText], _cut(MAX_LIST_ITEMS)]


class Price(_Model):
    """The price a page shows: ``amount`` in ``currency`` (its fiat figure when it shows one),
    the crypto amount it shows beside it, if any, and ``usd``: converted at ``usd_rate`` (USD per
    unit of ``currency``), the dated rate of ``rate_date`` (None for an undated configured rate),
    or the amount itself when the page shows USD.  No rate, no ``usd``: never guessed."""

    amount: float = Field(ge=0.0, le=MAX_AMOUNT)
    currency: str
    usd: float | None = Field(default=None, ge=0.0, le=MAX_AMOUNT)
    crypto_amount: float | None = Field(default=None, ge=0.0, le=MAX_AMOUNT)
    crypto_currency: str | None = None
    usd_rate: float | None = Field(default=None, gt=0.0, le=MAX_AMOUNT)
    rate_date: date | None = None


class Quantity(_Model):
    value: float = Field(ge=0.0, le=MAX_AMOUNT)
    unit: str


class Offer(_Model):
    """One price tier of a listing ("0.5 g for 30 EUR"): the amount and the price of that amount."""

    quantity: float | None = Field(default=None, ge=0.0, le=MAX_AMOUNT)
    unit: ShortText | None = None
    price: Price


class Location(_Model):
    """Where a drop is (markets selling by city, with dead drops): all as the page writes them."""

    city: ShortText | None = None
    district: ShortText | None = None
    drop_type: ShortText | None = None  # e.g. "magnet", "buried", "stash"; several joined with ", "


def _cap_attributes(value: dict[str, str | list[str]]) -> dict[str, str | list[str]]:
    capped: dict[str, str | list[str]] = {}
    for key, item in list(value.items())[:MAX_ATTRIBUTES]:
        if isinstance(item, str):
            capped[key[:64]] = item[:MAX_ATTRIBUTE_CHARS]
        else:
            capped[key[:64]] = [part[:MAX_ATTRIBUTE_CHARS] for part in item[:MAX_LIST_ITEMS]]
    return capped


class Contact(_Model):
    kind: str  # telegram, wickr, signal, snapchat, whatsapp, email, session, threema, ...
    handle: str


# An armoured public key is a few kB; a vendor page may paste anything into its key box.
MAX_PGP_KEY_CHARS = 16 * 1024


class Vendor(_Model):
    """A listing's vendor: the name the listing shows and, when the profile reads the vendor's
    page, what that page says (its key, rating, sales, contacts) and where the page is."""

    name: str
    market: str | None = None
    pgp_fingerprint: str | None = None
    pgp_key: str | None = None  # the armoured block as the page shows it, capped at 16 KiB
    rating: float | None = Field(default=None, ge=0.0, le=MAX_AMOUNT)
    sales: int | None = Field(default=None, ge=0, le=int(MAX_AMOUNT))
    joined: str | None = None
    contacts: list[Contact] = Field(default_factory=list)
    url: str | None = None  # the vendor page
    attributes: Annotated[dict[str, str | list[str]], AfterValidator(_cap_attributes)] = Field(default_factory=dict)

    @field_validator("pgp_key", mode="before")
    @classmethod
    def _cap_key(cls, value: object) -> object:
        """Capped, not refused: a listing is never lost to an oversized key box."""
        return value[:MAX_PGP_KEY_CHARS] if isinstance(value, str) else value


class CryptoAddress(_Model):
    chain: str  # btc, eth, xmr, ...
    address: str


class Evidence(_Model):
    """One reason for a verdict: a span of the text or a rule that fired."""

    kind: str  # substance, slang, emoji, price, quantity, contact, crypto, shipping, escrow, offer, model
    text: str
    start: int | None = None
    end: int | None = None
    rule: str | None = None
    weight: float | None = None


class Classification(_Model):
    is_drug_sale: bool
    score: float = Field(ge=0.0, le=1.0)
    threshold: float = Field(ge=0.0, le=1.0)
    substances: dict[str, float] = Field(default_factory=dict)
    model_version: str
    evidence: list[Evidence] = Field(default_factory=list)
    explanation: str | None = None
    intent: Intent | None = None  # "sell" exactly when is_drug_sale; None from models without an intent head


class Snapshot(_Model):
    warc_file: str
    record_id: str


class TakedownEvent(_Model):
    status: TakedownStatus
    at: datetime
    by: str
    note: str | None = None


class Takedown(_Model):
    platform: str
    status: TakedownStatus = "new"
    history: list[TakedownEvent] = Field(default_factory=list)


class Listing(_Model):
    """One observed post or listing."""

    id: str
    url: str
    canonical_url: str
    source_kind: SourceKind
    platform: str | None = None
    market: str | None = None
    mirror: str | None = None
    crawled_at: datetime = Field(default_factory=utcnow)
    first_seen: datetime | None = None
    last_seen: datetime | None = None
    version: int = 1

    title: str = ""
    text: str = ""
    lang: str | None = None
    price: Price | None = None
    quantity: Quantity | None = None
    ships_from: str | None = None
    ships_to: list[str] = Field(default_factory=list)
    vendor: Vendor | None = None
    # what a market shows besides the price (site profiles' fields; crawlers/README.md)
    escrow: ShortText | None = None  # as the page says it: "Escrow", "FE", "multisig", ...
    payment: ShortList = Field(default_factory=list)  # e.g. ["BTC", "XMR"]
    offers: Annotated[list[Offer], _cut(MAX_OFFERS)] = Field(default_factory=list)  # price tiers
    category: ShortText | None = None
    location: Location | None = None
    # anything else a profile reads (its ``attributes:``), so nothing read is thrown away
    attributes: Annotated[dict[str, str | list[str]], AfterValidator(_cap_attributes)] = Field(default_factory=dict)
    contacts: list[Contact] = Field(default_factory=list)
    crypto: list[CryptoAddress] = Field(default_factory=list)
    pgp_fingerprints: list[str] = Field(default_factory=list)
    images: list[str] = Field(default_factory=list)

    classification: Classification | None = None

    content_sha256: str
    snapshot: Snapshot | None = None
    screenshot_sha256: str | None = None

    takedown: Takedown | None = None
    # set by the store when a content version carries a PGP key the version before did not have
    # (a key swap is the classic sign of a vendor account changing hands): index.docs.merge_with_existing
    pgp_changed: bool = False

    @classmethod
    def new(cls, url: str, *, source_kind: SourceKind, title: str = "", text: str = "", **fields: Any) -> Listing:
        """Build a listing with its derived keys (canonical URL, id, content hash) filled in."""
        canonical = canonicalize_url(url)
        body = f"{title}\n{text}"
        return cls(
            id=listing_id(canonical),
            url=url,
            canonical_url=canonical,
            source_kind=source_kind,
            title=title,
            text=text,
            content_sha256=content_sha256(body),
            **fields,
        )

    @property
    def doc_id(self) -> str:
        """Idempotency key of one version: the same content indexed twice is one document."""
        return f"{self.id}:{self.content_sha256[:16]}"
