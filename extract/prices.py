"""Prices in free text ("$80", "80 €", "0.004 BTC", "R$ 50", "1.500 руб") and in a field a site
profile points at, with a USD value where the currency has a rate on the day (extract.rates)."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping

from dragnet.documents import MAX_AMOUNT, Price
from extract.rates import Rate, to_usd, usd_rates
from extract.text import cap

_NUM = r"(\d{1,3}(?:[ ,.'\u00a0]\d{3})+(?:[.,]\d{1,8})?|\d+(?:[.,]\d{1,8})?)"
_SYMBOLS = {
    "r$": "BRL",
    "$": "USD",
    "us$": "USD",
    "€": "EUR",
    "£": "GBP",
    "₿": "BTC",
    "฿": "BTC",
    "₽": "RUB",
    "₹": "INR",
    "¥": "JPY",
}
_CODES = {
    "usd": "USD",
    "dollars": "USD",
    "dollar": "USD",
    "bucks": "USD",
    "eur": "EUR",
    "euro": "EUR",
    "euros": "EUR",
    "gbp": "GBP",
    "quid": "GBP",
    "btc": "BTC",
    "bitcoin": "BTC",
    "xmr": "XMR",
    "monero": "XMR",
    "eth": "ETH",
    "ltc": "LTC",
    "rub": "RUB",
    "руб": "RUB",
    "рублей": "RUB",
    "р": "RUB",
    "brl": "BRL",
    "reais": "BRL",
    "chf": "CHF",
    "cad": "CAD",
    "aud": "AUD",
    "usdt": "USDT",
}
_CRYPTO_CURRENCIES = frozenset({"BTC", "XMR", "ETH", "LTC", "USDT"})
_SYM_RE = "|".join(re.escape(s) for s in sorted(_SYMBOLS, key=len, reverse=True))
_CODE_RE = "|".join(re.escape(c) for c in sorted(_CODES, key=len, reverse=True))
PRICE_PATTERNS = (
    re.compile(rf"(?<![\w$€£])({_SYM_RE})\s?{_NUM}(?![\w])", re.I),
    re.compile(rf"(?<![\w.,]){_NUM}\s?({_SYM_RE})(?![\w$])", re.I),
    re.compile(rf"(?<![\w.,]){_NUM}\s?({_CODE_RE})(?![\w])", re.I),
    re.compile(rf"(?<![\w])({_CODE_RE})\s?{_NUM}(?![\w])", re.I),
)


def parse_number(raw: str, decimal_point: bool = False) -> float | None:
    """Parse "1,500", "1.500", "12,50", "0.004"; ``decimal_point`` reads "." as a decimal point
    (crypto amounts are never written with thousands dots).  A number no price can be (beyond
    :data:`MAX_AMOUNT`, or one that overflows to infinity) is None: not a price."""
    value = _parse_number(raw, decimal_point)
    return value if value is not None and _plausible(value) else None


def _plausible(value: float) -> bool:
    return math.isfinite(value) and 0 <= value <= MAX_AMOUNT


def _parse_number(raw: str, decimal_point: bool) -> float | None:
    s = raw.replace("\u00a0", " ").replace("'", "").strip()
    if decimal_point or s.startswith(("0.", "0,")):
        if re.fullmatch(r"\d+[.,]\d+", s):
            return float(s.replace(",", "."))
    if re.fullmatch(r"\d{1,3}(?:[ ,.]\d{3})+", s):  # thousands separators only
        return float(re.sub(r"[ ,.]", "", s))
    m = re.fullmatch(r"(\d{1,3}(?:[ ,.]\d{3})+)([.,])(\d{1,8})", s)
    if m:
        return float(re.sub(r"[ ,.]", "", m.group(1)) + "." + m.group(3))
    try:
        return float(s.replace(",", "."))
    except ValueError:
        return None


_ANY_DIGIT = re.compile(r"\d")


def price_spans(text: str, rates: Mapping[str, Rate] | None = None) -> list[tuple[Price, int, int]]:
    """Every price in ``text`` with its span, USD at ``rates`` (default: today's)."""
    found: list[tuple[Price, int, int]] = []
    if _ANY_DIGIT.search(text) is None:  # every price pattern holds a number
        return found
    for index, pattern in enumerate(PRICE_PATTERNS):
        for m in pattern.finditer(text):
            if index in (0, 3):
                unit, number = m.group(1), m.group(2)
            else:
                number, unit = m.group(1), m.group(2)
            currency = _SYMBOLS.get(unit.lower()) or _CODES.get(unit.lower())
            amount = parse_number(number, decimal_point=currency in _CRYPTO_CURRENCIES)
            if currency is None or amount is None or amount <= 0:
                continue
            if currency == "RUB" and unit.lower() == "р" and amount < 50:
                continue
            if any(s < m.end() and m.start() < e for _, s, e in found):
                continue
            if rates is None:
                rates = usd_rates()
            found.append((priced(amount, currency, rates), m.start(), m.end()))
    return sorted(found, key=lambda item: item[1])


def is_crypto(currency: str) -> bool:
    return currency.upper() in _CRYPTO_CURRENCIES


def priced(
    amount: float,
    currency: str,
    rates: Mapping[str, Rate],
    crypto_amount: float | None = None,
    crypto_currency: str | None = None,
) -> Price:
    """A :class:`Price` of ``amount`` ``currency`` with its USD value at ``rates`` and the rate
    used; an implausible USD figure (beyond :data:`MAX_AMOUNT`) is left out, not stored."""
    converted = to_usd(amount, currency, rates)
    usd, rate = converted if converted is not None and _plausible(converted[0]) else (None, None)
    return Price(
        amount=amount,
        currency=currency,
        usd=usd,
        crypto_amount=crypto_amount,
        crypto_currency=crypto_currency,
        usd_rate=rate.usd if rate is not None else None,
        rate_date=rate.day if rate is not None else None,
    )


def extract_prices(text: str, rates: Mapping[str, Rate] | None = None) -> list[Price]:
    """Every price in the text, in order."""
    return [price for price, _, _ in price_spans(cap(text), rates)]


def extract_price(text: str, rates: Mapping[str, Rate] | None = None) -> Price | None:
    """The first price ("$80", "80 €", "0.004 BTC", "R$ 50", "1.500 руб"), with a USD value when
    the currency has a rate (``rates``, default today's: :func:`extract.rates.usd_rates`)."""
    prices = extract_prices(text, rates)
    return prices[0] if prices else None


_FIELD_SYMBOLS = {"$": "USD", "€": "EUR", "£": "GBP", "₿": "BTC", "ɱ": "XMR", "Ξ": "ETH"}
_FIELD_CODES = {"USD", "EUR", "GBP", "BTC", "XMR", "ETH", "LTC", "CAD", "AUD", "CHF", "USDT"}
_FIELD_NUMBER = re.compile(r"(\d{1,3}(?:[ ,]\d{3})+(?:\.\d+)?|\d+(?:[.,]\d+)?)")
_FIELD_CODE = re.compile(r"[A-Za-z]{3,4}")


def field_number(raw: str) -> float | None:
    """A number as a profile's price or quantity field writes it ("1,500", "12,50", "0.0129");
    None when it is no plausible amount (see :func:`parse_number`)."""
    raw = raw.replace(" ", "")
    if "," in raw and "." not in raw and len(raw.rsplit(",", 1)[1]) != 3:
        raw = raw.replace(",", ".")  # European decimal comma
    try:
        value = float(raw.replace(",", ""))
    except ValueError:
        return None
    return value if _plausible(value) else None


def parse_money(text: str, rates: Mapping[str, Rate] | None = None, *, currency: str | None = None) -> Price | None:
    """The price in a field a site profile points at: ``"USD 12.50"``, ``"€45.00"``,
    ``"0.0129 BTC"``, ``"0.006752 BTC ($413.43)"``.  Each amount is read with the currency
    written beside it (a code elsewhere in the cell never beats the ``$`` next to a number).
    When the cell shows a fiat amount and a crypto amount, the fiat one is the price (the page's
    own figure, not one converted at our rate) and the crypto one is kept beside it.  A bare
    number ("1500") is in ``currency`` (the profile's hint), else no price.  Text these rules
    cannot read goes through :func:`extract_price`.  ``usd`` at ``rates`` (default: today's)."""
    rates = usd_rates() if rates is None else rates
    squashed = " ".join(cap(text).split())
    price = _parse_money_pairs(squashed, rates) or _parse_money_strict(squashed, rates, currency)
    if price is None and squashed:
        price = extract_price(squashed, rates)
    return price


def _parse_money_pairs(text: str, rates: Mapping[str, Rate]) -> Price | None:
    spans = price_spans(text, rates)
    if not spans:
        return None
    fiat = next((p for p, _, _ in spans if p.currency not in _CRYPTO_CURRENCIES), None)
    crypto = next((p for p, _, _ in spans if p.currency in _CRYPTO_CURRENCIES), None)
    shown = fiat or crypto
    assert shown is not None
    return shown.model_copy(
        update={
            "crypto_amount": crypto.amount if crypto else None,
            "crypto_currency": crypto.currency if crypto else None,
        }
    )


def _parse_money_strict(text: str, rates: Mapping[str, Rate], default: str | None) -> Price | None:
    match = _FIELD_NUMBER.search(text)
    if not match:
        return None
    currency = next((token.upper() for token in _FIELD_CODE.findall(text) if token.upper() in _FIELD_CODES), None)
    if currency is None:
        currency = next((code for symbol, code in _FIELD_SYMBOLS.items() if symbol in text), None)
    currency = currency or (default.upper() if default else None)
    if currency is None:
        return None
    amount = field_number(match.group(1))
    if amount is None:
        return None
    if currency in _CRYPTO_CURRENCIES:
        return priced(amount, currency, rates, amount, currency)
    return priced(amount, currency, rates)
