"""Site profiles: one YAML file per site says how to crawl it, so adding a market means adding a
profile, not code.  Profiles are validated with pydantic; a broken profile fails with a message
naming the file and the field, never half-way through a crawl.
"""

from __future__ import annotations

import datetime
import difflib
import re
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

import yaml
from parsel import Selector
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from w3lib.url import safe_url_string

BUNDLED_PROFILES = Path(__file__).resolve().parent / "profiles"


class ProfileError(ValueError):
    """A site profile is missing or invalid; the message says which file and which field."""


# The fields a market spider reads from a detail page (``fields:``) and the listing slot each
# fills: "text" slots hold one string, "money" slots one price, "list" slots a list of strings.
# Any other name would be read and then silently dropped, so it is refused.
MARKET_SLOTS: dict[str, Literal["text", "money", "list"]] = {
    "title": "text",
    "text": "text",
    "price": "money",
    "crypto_price": "money",
    "quantity": "text",
    "vendor": "text",
    "ships_from": "text",
    "ships_to": "list",
    "escrow": "text",
    "payment": "list",
    "category": "text",
    "city": "text",
    "district": "text",
    "drop_type": "list",  # several are joined with ", " into Location.drop_type
}
# ``attributes`` and ``offers`` may also be written under ``fields:``; they are sections of their own
MARKET_FIELDS = (*MARKET_SLOTS, "attributes", "offers")
OFFER_FIELDS = ("each", "quantity", "price", "crypto_price")
MONEY_FIELDS = tuple(name for name, slot in MARKET_SLOTS.items() if slot == "money")
_SYNONYMS = {
    "seller": "vendor",
    "vendors": "vendor",
    "shop": "vendor",
    "store": "vendor",
    "author": "vendor",
    "name": "title",
    "heading": "title",
    "cost": "price",
    "fiat": "price",
    "usd": "price",
    "crypto": "crypto_price",
    "btc": "crypto_price",
    "qty": "quantity",
    "amount": "quantity",
    "origin": "ships_from",
    "from": "ships_from",
    "destination": "ships_to",
    "to": "ships_to",
    "description": "text",
    "desc": "text",
    "body": "text",
    "pay": "payment",
    "payments": "payment",
    "coins": "payment",
    "finalize": "escrow",
    "fe": "escrow",
    "town": "city",
    "area": "district",
    "region": "district",
    "drop": "drop_type",
    "stash": "drop_type",
    "cat": "category",
    "section": "category",
    "tiers": "offers",
    "tier": "offers",
    "row": "each",
    "attrs": "attributes",
    "extra": "attributes",
    "mirror": "mirrors",
    "start_url": "start_urls",
    "url": "start_urls",
    "depth": "max_depth",
    "delay": "delay_s",
    "allowed_hosts": "follow_hosts",
    "channel": "channels",
    "pages": "max_pages",
}


def did_you_mean(name: str, choices: list[str] | tuple[str, ...]) -> str:
    """`` (did you mean 'vendor'?)`` for a misspelled or synonymous name; empty without a guess."""
    key = name.lower().replace("-", "_")
    guess = _SYNONYMS.get(key) if _SYNONYMS.get(key) in choices else None
    if guess is None:
        close = difflib.get_close_matches(key, list(choices), n=1, cutoff=0.6)
        guess = close[0] if close else None
    return f"; did you mean {guess!r}?" if guess else ""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


def _check_css(value: str) -> str:
    try:
        Selector(text="<html></html>").css(value)
    except Exception as exc:  # noqa: BLE001 - cssselect raises several kinds
        raise ValueError(f"invalid CSS selector {value!r}: {exc}") from None
    return value


def _check_xpath(value: str) -> str:
    try:
        Selector(text="<html></html>").xpath(value)
    except Exception as exc:  # noqa: BLE001 - lxml raises several kinds
        raise ValueError(f"invalid XPath {value!r}: {exc}") from None
    return value


def _check_regex(value: str) -> str:
    try:
        re.compile(value)
    except re.error as exc:
        raise ValueError(f"invalid regex {value!r}: {exc}") from None
    return value


class _Located(_Strict):
    """Exactly one of a CSS selector or an XPath expression, both checked when the profile loads."""

    css: str | None = None
    xpath: str | None = None

    _css = field_validator("css")(classmethod(lambda cls, v: v if v is None else _check_css(v)))
    _xpath = field_validator("xpath")(classmethod(lambda cls, v: v if v is None else _check_xpath(v)))

    @model_validator(mode="after")
    def _exactly_one(self) -> _Located:
        if (self.css is None) == (self.xpath is None):
            raise ValueError("give exactly one of 'css' and 'xpath'")
        return self


class ElementRule(_Located):
    """The elements a section repeats over (``offers.each``: one per price tier)."""


class FieldRule(_Located):
    """How to read one field: a CSS selector or an XPath; ``regex`` keeps capture group 1 (or the
    whole match) of each string read and drops strings it does not match; then ``first`` keeps
    the first string, ``many`` keeps a list, ``split`` splits the joined text on a separator;
    otherwise all strings are joined.  ``currency``: the currency of a bare number (money fields)."""

    first: bool = False
    many: bool = False
    split: str | None = Field(default=None, min_length=1)
    regex: str | None = None
    currency: str | None = Field(default=None, pattern=r"^[A-Za-z][A-Za-z0-9]{1,7}$")

    _regex = field_validator("regex")(classmethod(lambda cls, v: v if v is None else _check_regex(v)))
    _upper = field_validator("currency")(classmethod(lambda cls, v: v if v is None else v.upper()))

    @property
    def picks_one(self) -> bool:
        """Whether this rule narrows its matches (else every tier of a price table is joined)."""
        return self.first or self.regex is not None or self.split is not None


class OffersRule(_Strict):
    """Price tiers: ``each`` selects one element per tier; the rules inside read within it."""

    each: ElementRule
    quantity: FieldRule | None = None
    price: FieldRule
    crypto_price: FieldRule | None = None


class ProfileRate(_Strict):
    """A site's own rate of a currency (``usd_rates: {RUB: {rate: 0.011, date: 2026-11-30}}``)."""

    rate: float = Field(gt=0, le=1e9)
    date: datetime.date


class LoginRule(_Strict):
    url: str  # path of the login form, relative to the site
    form_css: str
    fields: dict[str, str]  # form field -> value (the research account of this site)

    _css = field_validator("form_css")(classmethod(lambda cls, v: _check_css(v)))


class GateRule(_Strict):
    markers: list[str] = Field(min_length=1)  # text that appears only on the gate page
    solve: Literal["form", "human"] = "human"  # "form": an automatic anti-DDoS form; "human": pause
    form_css: str | None = None

    @model_validator(mode="after")
    def _form_needs_css(self) -> GateRule:
        if self.solve == "form" and not self.form_css:
            raise ValueError("gate.solve 'form' needs gate.form_css")
        return self


class ListingRule(_Strict):
    # CSS selector of the index rows (one element per listing); when set, ``links`` and
    # ``vendor_page.index_url`` are read inside each row, so a row's vendor goes with its link.
    rows: str | None = None
    links: str  # CSS selector of detail links on index pages (…::attr(href))
    next: str | None = None  # CSS selector of the next index page
    detail_url: str  # regex: paths that are detail pages

    _css = field_validator("rows", "links", "next")(classmethod(lambda cls, v: v if v is None else _check_css(v)))

    @field_validator("detail_url")
    @classmethod
    def _regex(cls, value: str) -> str:
        try:
            re.compile(value)
        except re.error as exc:
            raise ValueError(f"invalid regex {value!r}: {exc}") from None
        return value


# What a vendor page may be read for (``vendor_page.fields``); ``attributes`` keeps anything else.
VENDOR_FIELDS = ("name", "pgp", "contacts", "rating", "sales", "joined")
VENDOR_SOURCES = ("url", "index_url", "template")


class VendorPageRule(_Strict):
    """Where a listing's vendor page is and what to read on it.  Exactly one source: ``url`` (a
    link on the detail page), ``index_url`` (a link in the listing's index row: needs
    ``listing.rows``) or ``template`` (a path built from the listing's vendor name,
    ``/u/{vendor}``).  ``pgp`` alone is the older form of ``fields.pgp``."""

    url: FieldRule | None = None
    index_url: FieldRule | None = None
    template: str | None = None
    fields: dict[str, FieldRule] = Field(default_factory=dict)
    attributes: dict[str, FieldRule] = Field(default_factory=dict)
    pgp: FieldRule | None = None

    @field_validator("template")
    @classmethod
    def _template(cls, value: str | None) -> str | None:
        if value is None:
            return value
        if value.count("{vendor}") != 1 or re.search(r"\{(?!vendor\})", value):
            raise ValueError(f"template {value!r} must hold '{{vendor}}' once and no other '{{...}}'")
        if not (value.startswith("/") or re.match(r"^https?://[^/\s]+/", value)):
            raise ValueError(f"template {value!r} must be a path ('/u/{{vendor}}') or an http(s) URL")
        return value

    @field_validator("fields")
    @classmethod
    def _known_fields(cls, fields: dict[str, FieldRule]) -> dict[str, FieldRule]:
        for name in fields:
            if name not in VENDOR_FIELDS:
                raise ValueError(
                    f"unknown vendor field {name!r}{did_you_mean(name, VENDOR_FIELDS)} "
                    f"(known: {', '.join(VENDOR_FIELDS)}; anything else goes under vendor_page.attributes)"
                )
        return fields

    @model_validator(mode="after")
    def _one_source(self) -> VendorPageRule:
        given = [name for name in VENDOR_SOURCES if getattr(self, name) is not None]
        if len(given) != 1:
            which = f"got {' and '.join(given)}" if given else "got none"
            raise ValueError(f"vendor_page needs exactly one of url, index_url, template ({which})")
        if self.pgp is not None:
            if "pgp" in self.fields:
                raise ValueError("vendor_page.pgp and vendor_page.fields.pgp say the same thing: keep one")
            self.fields = {**self.fields, "pgp": self.pgp}
        if not self.fields and not self.attributes:
            raise ValueError("vendor_page needs fields to read (e.g. fields: {pgp: {css: 'pre.pgp::text'}})")
        return self

    @property
    def source(self) -> str:
        """``url``, ``index_url`` or ``template``: the one the profile gives."""
        return next(name for name in VENDOR_SOURCES if getattr(self, name) is not None)


class PostRule(_Strict):
    container: str
    url: str
    author: str
    text: str

    _css = field_validator("container", "url", "author", "text")(classmethod(lambda cls, v: _check_css(v)))


class SiteProfile(_Strict):
    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,62}$")
    kind: Literal["market", "forum", "social", "telegram"]
    title: str | None = None
    start_urls: list[str] = Field(min_length=1)
    mirrors: list[str] = Field(default_factory=list)
    # Hosts besides the start URLs' and mirrors' that links may lead to (default: none; every
    # other link is counted as offsite and not followed).
    follow_hosts: list[str] = Field(default_factory=list)
    signed_mirrors_path: str | None = None
    login: LoginRule | None = None
    gate: GateRule | None = None
    listing: ListingRule | None = None
    fields: dict[str, FieldRule] = Field(default_factory=dict)
    offers: OffersRule | None = None  # price tiers (market)
    attributes: dict[str, FieldRule] = Field(default_factory=dict)  # anything else, kept on the listing
    currency: str | None = Field(default=None, pattern=r"^[A-Za-z][A-Za-z0-9]{1,7}$")  # of bare numbers
    usd_rates: dict[str, ProfileRate] = Field(default_factory=dict)  # this site's own rates
    vendor_page: VendorPageRule | None = None
    follow: list[str] = Field(default_factory=list)  # forum: link selectors to follow
    posts: PostRule | None = None
    max_depth: int | None = Field(default=None, ge=0)
    concurrency: int | None = Field(default=None, ge=1)
    delay_s: float | None = Field(default=None, ge=0)
    max_scrolls: int | None = Field(default=None, ge=1)
    # seconds between two scheduled crawl rounds of this site (default: crawl.recrawl_interval_s)
    recrawl_s: float | None = Field(default=None, gt=0)
    # telegram: public channels read from the preview pages under the first start URL
    # (``https://t.me/s/`` + channel); ``directory`` adds the channels of ``dragnet sources``
    # that are due; ``max_pages`` caps how far back (pages of ~20 messages) one crawl goes.
    channels: list[str] = Field(default_factory=list)
    directory: bool = False
    max_pages: int | None = Field(default=None, ge=1)

    @field_validator("start_urls", "mirrors")
    @classmethod
    def _urls(cls, urls: list[str]) -> list[str]:
        for url in urls:
            if not re.match(r"^https?://[^/\s]+", url):
                raise ValueError(f"not an http(s) URL: {url!r}")
        return urls

    @field_validator("channels")
    @classmethod
    def _channels(cls, names: list[str]) -> list[str]:
        for name in names:
            if not re.match(r"^[A-Za-z][A-Za-z0-9_]{3,31}$", name):
                raise ValueError(f"not a public Telegram channel name: {name!r} (5-32 letters, digits, underscores)")
        return [n.lower() for n in names]

    @model_validator(mode="before")
    @classmethod
    def _sections_under_fields(cls, raw: Any) -> Any:
        """``fields: {attributes: ..., offers: ...}`` is the same as the top-level sections."""
        if not isinstance(raw, dict) or not isinstance(raw.get("fields"), dict):
            return raw
        fields = dict(raw["fields"])
        raw = dict(raw)
        for section in ("attributes", "offers"):
            if section in fields:
                if raw.get(section) is not None:
                    raise ValueError(f"'{section}' is given both at the top level and under 'fields:'")
                raw[section] = fields.pop(section)
        raw["fields"] = fields
        return raw

    @field_validator("fields")
    @classmethod
    def _known_fields(cls, fields: dict[str, FieldRule]) -> dict[str, FieldRule]:
        for name, rule in fields.items():
            if name not in MARKET_SLOTS:
                raise ValueError(
                    f"unknown field {name!r}{did_you_mean(name, MARKET_FIELDS)} (known: {', '.join(MARKET_FIELDS)})"
                )
            _check_slot(f"fields.{name}", MARKET_SLOTS[name], rule)
        return fields

    @field_validator("offers")
    @classmethod
    def _offer_slots(cls, offers: OffersRule | None) -> OffersRule | None:
        if offers is not None:
            _check_slot("offers.quantity", "text", offers.quantity)
            _check_slot("offers.price", "money", offers.price, offers=True)
            _check_slot("offers.crypto_price", "money", offers.crypto_price, offers=True)
        return offers

    @field_validator("attributes")
    @classmethod
    def _attribute_names(cls, attributes: dict[str, FieldRule]) -> dict[str, FieldRule]:
        for name, rule in attributes.items():
            if not re.match(r"^[a-z][a-z0-9_]{0,63}$", name):
                raise ValueError(f"attribute name {name!r}: lower-case letters, digits and '_' (at most 64)")
            if rule.currency:
                raise ValueError(f"attributes.{name}: 'currency' is for money fields (price, crypto_price)")
        return attributes

    @field_validator("currency")
    @classmethod
    def _upper(cls, value: str | None) -> str | None:
        return value.upper() if value else value

    @field_validator("usd_rates")
    @classmethod
    def _rate_codes(cls, rates: dict[str, ProfileRate]) -> dict[str, ProfileRate]:
        for code in rates:
            if not re.match(r"^[A-Za-z][A-Za-z0-9]{1,7}$", code):
                raise ValueError(f"usd_rates: not a currency code: {code!r}")
        return {code.upper(): rate for code, rate in rates.items()}

    @field_validator("follow_hosts")
    @classmethod
    def _hostnames(cls, hosts: list[str]) -> list[str]:
        for host in hosts:
            if not re.match(r"^[A-Za-z0-9._-]{1,253}$", host):
                raise ValueError(f"not a host name: {host!r} (a name, without scheme, port or path)")
        return [h.lower() for h in hosts]

    @model_validator(mode="after")
    def _kind_needs(self) -> SiteProfile:
        if self.kind == "market":
            missing = [n for n in ("title", "price") if n not in self.fields and not (n == "price" and self.offers)]
            if self.listing is None:
                raise ValueError("a market profile needs 'listing' (links, next, detail_url)")
            if missing:
                raise ValueError(f"a market profile needs fields {missing} (a price may come from 'offers:')")
        if self.vendor_page is not None:
            if self.kind != "market":
                raise ValueError("'vendor_page' is for market profiles")
            if self.vendor_page.index_url is not None and (self.listing is None or self.listing.rows is None):
                raise ValueError(
                    "vendor_page.index_url is read inside an index row: it needs listing.rows "
                    "(the CSS selector of one row per listing)"
                )
            if self.vendor_page.template is not None and "vendor" not in self.fields:
                raise ValueError("vendor_page.template is filled from the listing's vendor: it needs fields.vendor")
        if self.kind == "telegram" and not (self.channels or self.directory):
            raise ValueError("a telegram profile needs 'channels' or 'directory: true'")
        if self.kind != "telegram" and (self.channels or self.directory or self.max_pages):
            raise ValueError("'channels', 'directory' and 'max_pages' are for telegram profiles")
        if self.kind in ("forum", "social") and self.posts is None:
            raise ValueError(f"a {self.kind} profile needs 'posts' (container, url, author, text)")
        return self

    @property
    def hosts(self) -> list[str]:
        return [canonical_host(u) for u in [*self.start_urls, *self.mirrors]]


def _check_slot(where: str, slot: str, rule: FieldRule | None, *, offers: bool = False) -> None:
    """Refuse a rule whose result cannot fill its listing slot (found when the profile loads,
    not as a wrong value in the index)."""
    if rule is None:
        return
    if rule.many and slot != "list":
        raise ValueError(f"{where}: 'many: true' reads a list, but this field holds one value (remove 'many')")
    if slot == "money" and not rule.picks_one:
        hint = "add first: true or a regex" if offers else "add first: true or use offers:"
        raise ValueError(f"{where}: would join every tier into one number; {hint}")
    if rule.currency and slot != "money":
        raise ValueError(f"{where}: 'currency' is for money fields (price, crypto_price)")


def canonical_host(url_or_host: str) -> str:
    """A host as Scrapy's requests spell it: their URLs go through w3lib's ``safe_url_string``,
    which (from w3lib 2.6) rewrites numeric IPv4 hosts (``2130706433``, ``127.1`` -> ``127.0.0.1``),
    so an allow-list must be spelled the same way or it refuses the profile's own start URLs."""
    if "://" in url_or_host:
        url = url_or_host
    elif ":" in url_or_host and not url_or_host.startswith("["):
        url = f"http://[{url_or_host}]/"  # a bare IPv6 address, as urlsplit's hostname gives it
    else:
        url = f"http://{url_or_host}/"
    try:
        return (urlsplit(safe_url_string(url)).hostname or "").lower()
    except ValueError:  # not a host at all: it matches nothing
        return url_or_host.lower()


def load_profile(path: Path) -> SiteProfile:
    """Read and validate one profile file."""
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ProfileError(f"cannot read profile {path}: {exc}") from None
    except yaml.YAMLError as exc:
        raise ProfileError(f"profile {path} is not valid YAML: {exc}") from None
    if not isinstance(raw, dict):
        raise ProfileError(f"profile {path} must be a mapping, got {type(raw).__name__}")
    todos = list(_todos(raw))
    if todos:
        (where, value), more = todos[0], len(todos) - 1
        others = f", and {more} more TODO value{'s' if more > 1 else ''}" if more else ""
        raise ProfileError(f"profile {path} is not filled in: {where} is still {value!r}{others}")
    try:
        return SiteProfile(**raw)
    except ValidationError as exc:
        problems = " | ".join(_problem(e) for e in exc.errors())
        raise ProfileError(f"profile {path} is invalid: {problems}") from None


def _todos(value: Any, where: str = "") -> Any:
    """(place, value) of every ``TODO ...`` placeholder left from ``dragnet profile new``."""
    if isinstance(value, str) and value.lstrip().startswith("TODO"):
        yield where or "(profile)", value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _todos(item, f"{where}.{key}" if where else str(key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _todos(item, f"{where}[{index}]")


_SECTIONS: dict[str, type[BaseModel]] = {}  # filled below, once the models exist


def _problem(error: Any) -> str:
    """One validation error as ``where: what``, with a hint for a misspelled key."""
    loc = [str(p) for p in error["loc"]]
    where = ".".join(loc) or "(profile)"
    if error["type"] != "extra_forbidden" or not loc:
        return f"{where}: {error['msg']}"
    model: type[BaseModel] = SiteProfile
    if len(loc) >= 3 and loc[0] in ("fields", "vendor_page", "attributes"):
        model = FieldRule
    elif len(loc) >= 3 and loc[0] == "offers":
        model = ElementRule if loc[1] == "each" else FieldRule
    elif len(loc) >= 2 and loc[0] in _SECTIONS:
        model = _SECTIONS[loc[0]]
    hint = did_you_mean(loc[-1], list(model.model_fields))
    if not hint and model is SiteProfile:
        field_hint = did_you_mean(loc[-1], MARKET_FIELDS)
        if field_hint:
            hint = field_hint[:-1] + " (a field, under 'fields:')?"
    return f"{where}: unknown key{hint}"


_SECTIONS.update(
    {
        "login": LoginRule,
        "gate": GateRule,
        "listing": ListingRule,
        "vendor_page": VendorPageRule,
        "posts": PostRule,
        "offers": OffersRule,
        "usd_rates": ProfileRate,
    }
)


def profiles_dir(configured: Path | None = None) -> Path:
    return configured or BUNDLED_PROFILES


def find_profile(target: str, directory: Path | None = None) -> SiteProfile:
    """``target`` is a profile name (``nightshade``) or a path to a YAML file."""
    path = Path(target)
    if path.suffix in (".yaml", ".yml") and path.is_file():
        return load_profile(path)
    directory = profiles_dir(directory)
    for candidate in (directory / f"{target}.yaml", directory / f"{target}.yml"):
        if candidate.is_file():
            return load_profile(candidate)
    known = ", ".join(sorted(p.stem for p in directory.glob("*.y*ml"))) or "none"
    raise ProfileError(f"no site profile named {target!r} in {directory} (known: {known})")
