"""Reading a page through a site profile's field rules: one rule into a string or a list
(:func:`read_field`), and a market's detail page into the parts of a listing
(:func:`read_detail`): price with its crypto figure and dated USD value, price tiers, escrow,
payment, category, location and the profile's free ``attributes``.

Every value comes from hostile HTML: strings are cut before regexes run on them, lists and
tiers are capped, and the document model cuts what is stored (dragnet.documents)."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from crawlers.profiles import ElementRule, FieldRule, SiteProfile
from dragnet.documents import MAX_LIST_ITEMS, MAX_OFFERS, Location, Offer, Price, Quantity
from extract.prices import is_crypto, parse_money, priced
from extract.quantities import parse_quantity
from extract.rates import Rate, usd_rates
from extract.text import cap, normalize_text

# one string a regex runs on, at most (a profile's regex on a megabyte of hostile text is slow)
MAX_FIELD_CHARS = 20_000


def select_all(selector: Any, css: str) -> list[str]:
    """``css`` matches; for ``"X ::text"`` the text under X without scripts and styles (a page's
    script is hostile content: never run, never mistaken for the listing's words)."""
    if css.endswith(" ::text"):
        return (
            selector.css(css[: -len(" ::text")])
            .xpath(".//text()[not(ancestor::script or ancestor::style or ancestor::noscript)]")
            .getall()
        )
    return selector.css(css).getall()


def select_rule(selector: Any, rule: FieldRule | ElementRule) -> list[Any]:
    """The matches of a rule's CSS selector or XPath under ``selector`` (a response, a selector)."""
    if rule.xpath is not None:
        return list(selector.xpath(rule.xpath))
    assert rule.css is not None
    return list(selector.css(rule.css[: -len(" ::text")] if rule.css.endswith(" ::text") else rule.css))


def read_strings(selector: Any, rule: FieldRule) -> list[str]:
    """Every string a rule's CSS selector or XPath matches, before regex, first, many or split."""
    if rule.xpath is not None:
        return [str(v) for v in selector.xpath(rule.xpath).getall()]
    assert rule.css is not None
    return select_all(selector, rule.css)


def read_field(selector: Any, rule: FieldRule | None) -> Any:
    """Apply one profile field rule to a page (or to an element of it): a string, or a list for
    ``many``/``split``; None when nothing matched.  ``regex`` keeps group 1 (or the whole match)
    of each string and drops the strings it does not match, before ``first``/``many``/``split``;
    ``first`` is the first string that is not white space."""
    if rule is None:
        return None
    values = read_strings(selector, rule)
    if rule.regex is not None:
        pattern = re.compile(rule.regex)
        kept = []
        for value in values:
            match = pattern.search(normalize_text(value[:MAX_FIELD_CHARS]))
            found = (match.group(1) if pattern.groups else match.group(0)) if match is not None else None
            if found:  # an optional group that took no part is no value either
                kept.append(found)
        values = kept
    values = [v for v in values if v.strip()]  # white space between tags is no value
    if rule.many:
        return [normalize_text(v) for v in values]
    if rule.first:
        values = values[:1]
    joined = normalize_text(" ".join(values))
    if rule.split:
        return [part.strip() for part in joined.split(rule.split) if part.strip()]
    return joined or None


def one(value: Any, *, first: bool = False) -> str | None:
    """A field's value as one string: a list is joined with ", " (or its first item)."""
    if isinstance(value, list):
        value = (value[:1] if first else value)[:MAX_LIST_ITEMS]
        return ", ".join(value) or None
    return value or None


def many(value: Any) -> list[str]:
    """A field's value as a list of strings (one string is a list of one)."""
    if not value:
        return []
    return list(value)[:MAX_LIST_ITEMS] if isinstance(value, list) else [value]


def profile_rates(profile: SiteProfile) -> dict[str, Rate]:
    """A profile's own ``usd_rates`` as dated rates."""
    return {code: Rate(rate.rate, rate.date) for code, rate in profile.usd_rates.items()}


def read_money(
    selector: Any,
    rule: FieldRule | None,
    crypto_rule: FieldRule | None,
    rates: Mapping[str, Rate],
    default_currency: str | None,
) -> Price | None:
    """A price field and, beside it, a crypto price field: the page's own figure (fiat when it
    shows fiat) with the crypto amount kept beside it.  A bare number is in the field's
    ``currency``, else the profile's (the crypto field: its own ``currency`` only)."""
    price = None
    if rule is not None:
        text = one(read_field(selector, rule), first=True)
        price = parse_money(text, rates, currency=rule.currency or default_currency) if text else None
    crypto = None
    if crypto_rule is not None:
        text = one(read_field(selector, crypto_rule), first=True)
        crypto = parse_money(text, rates, currency=crypto_rule.currency) if text else None
    return combine(price, crypto, rates)


def combine(price: Price | None, crypto: Price | None, rates: Mapping[str, Rate]) -> Price | None:
    """The price field's figure with the crypto field's amount beside it; the crypto figure
    alone (converted at its own rate) when the page shows no other."""
    if crypto is None:
        return price
    if crypto.crypto_amount is not None and crypto.crypto_currency is not None:
        amount, currency = crypto.crypto_amount, crypto.crypto_currency
    elif is_crypto(crypto.currency):
        amount, currency = crypto.amount, crypto.currency
    else:
        return price or crypto  # a fiat figure in the crypto field: no crypto amount to keep
    if price is None:
        return priced(amount, currency, rates, amount, currency)
    return price.model_copy(update={"crypto_amount": amount, "crypto_currency": currency})


def read_offers(selector: Any, profile: SiteProfile, rates: Mapping[str, Rate]) -> list[Offer]:
    """One :class:`Offer` per ``offers.each`` element that shows a price (at most MAX_OFFERS)."""
    rule = profile.offers
    if rule is None:
        return []
    offers = []
    for element in select_rule(selector, rule.each)[: MAX_OFFERS * 4]:
        price = read_money(element, rule.price, rule.crypto_price, rates, profile.currency)
        if price is None:
            continue
        quantity = _quantity(one(read_field(element, rule.quantity), first=True))
        if quantity is None:
            offers.append(Offer(price=price))
        else:
            offers.append(Offer(quantity=quantity.value, unit=quantity.unit[:32], price=price))
        if len(offers) >= MAX_OFFERS:
            break
    return offers


def _quantity(text: str | None) -> Quantity | None:
    return parse_quantity(cap(text)[:MAX_FIELD_CHARS]) if text else None


@dataclass
class Detail:
    """What a detail page's fields give a listing (``Listing.new``'s keyword arguments, and the
    vendor's name for the spider, which looks the vendor page up itself)."""

    title: str = ""
    text: str = ""
    vendor: str | None = None
    price: Price | None = None
    quantity: Quantity | None = None
    ships_from: str | None = None
    ships_to: list[str] = field(default_factory=list)
    escrow: str | None = None
    payment: list[str] = field(default_factory=list)
    category: str | None = None
    location: Location | None = None
    offers: list[Offer] = field(default_factory=list)
    attributes: dict[str, str | list[str]] = field(default_factory=dict)

    def empty_fields(self, names: Iterable[str]) -> list[str]:
        """Which of a profile's declared fields gave this page nothing (``city``, ``district``
        and ``drop_type`` live in ``location``; ``offers`` is its own section)."""
        empty = []
        for name in names:
            if name in ("city", "district", "drop_type"):
                value: Any = getattr(self.location, name, None) if self.location else None
            else:
                value = getattr(self, name, None)
            if value in (None, "", [], {}):
                empty.append(name)
        return empty

    def listing_fields(self) -> dict[str, Any]:
        """Everything but title, text and vendor, as ``Listing.new`` takes it."""
        return {
            "price": self.price,
            "quantity": self.quantity,
            "ships_from": self.ships_from,
            "ships_to": self.ships_to,
            "escrow": self.escrow,
            "payment": self.payment,
            "category": self.category,
            "location": self.location,
            "offers": self.offers,
            "attributes": self.attributes,
        }


def read_detail(selector: Any, profile: SiteProfile, rates: Mapping[str, Rate] | None = None) -> Detail:
    """Every field, tier and attribute of a market profile on one detail page.  The listing's
    price is the ``price`` field's, else the first tier's; its quantity likewise."""
    rates = usd_rates(overrides=profile_rates(profile)) if rates is None else rates
    rules = profile.fields
    values = {name: read_field(selector, rule) for name, rule in rules.items() if name not in ("price", "crypto_price")}
    offers = read_offers(selector, profile, rates)
    price = read_money(selector, rules.get("price"), rules.get("crypto_price"), rates, profile.currency)
    if price is None and offers:
        price = offers[0].price
    quantity = _quantity(one(values.get("quantity"), first=True))
    if quantity is None and offers and offers[0].quantity is not None and offers[0].unit:
        quantity = Quantity(value=offers[0].quantity, unit=offers[0].unit)
    city, district, drop = one(values.get("city")), one(values.get("district")), one(values.get("drop_type"))
    attributes: dict[str, str | list[str]] = {}
    for name, rule in profile.attributes.items():
        value = read_field(selector, rule)
        if value:
            attributes[name] = value
    return Detail(
        title=one(values.get("title")) or "",
        text=one(values.get("text")) or "",
        vendor=one(values.get("vendor"), first=True),
        price=price,
        quantity=quantity,
        ships_from=one(values.get("ships_from")),
        ships_to=many(values.get("ships_to")),
        escrow=one(values.get("escrow")),
        payment=many(values.get("payment")),
        category=one(values.get("category")),
        location=Location(city=city, district=district, drop_type=drop) if city or district or drop else None,
        offers=offers,
        attributes=attributes,
    )
