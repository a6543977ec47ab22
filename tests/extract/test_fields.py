"""The readers of fields a site profile points at (price, quantity, a vendor's key)."""

from __future__ import annotations

from datetime import date

import pytest

from crawlers.simsites.data import make_vendor_key
from extract.pgp import fingerprint_of_key
from extract.prices import parse_money
from extract.quantities import parse_quantity
from extract.rates import Rate

DAY = date(2026, 11, 1)
RATES = {c: Rate(usd, DAY) for c, usd in {"USD": 1.0, "EUR": 1.08, "GBP": 1.27, "BTC": 65000.0, "XMR": 160.0}.items()}


@pytest.mark.parametrize(
    "text, amount, currency, usd",
    [
        ("USD 12.50", 12.5, "USD", 12.5),
        ("€45.00", 45.0, "EUR", 48.6),
        ("0.012917 BTC", 0.012917, "BTC", 839.61),
        ("£1,250.00", 1250.0, "GBP", 1587.5),
        ("12,5 EUR", 12.5, "EUR", 13.5),
    ],
)
def test_parse_money(text: str, amount: float, currency: str, usd: float) -> None:
    price = parse_money(text, RATES)
    assert price is not None and (price.amount, price.currency, price.usd) == (amount, currency, usd)


def test_parse_money_without_currency_is_none() -> None:
    assert parse_money("call for price") is None and parse_money("12.50") is None


def test_parse_quantity() -> None:
    q = parse_quantity("3.5 g")
    assert q is not None and (q.value, q.unit) == (3.5, "g")
    q = parse_quantity("10 pills")
    assert q is not None and (q.value, q.unit) == (10.0, "pills")


def test_fingerprint_of_key_parses_the_key() -> None:
    vendor = make_vendor_key("someone")
    assert fingerprint_of_key(vendor.pgp_public_key) == vendor.pgp_fingerprint
    assert fingerprint_of_key("-----BEGIN PGP PUBLIC KEY BLOCK-----\ngarbage\n") is None


@pytest.mark.parametrize("text", ["0.006752 BTC ($413.43)", "$413.43 (0.006752 BTC)", "413.43 USD / 0.006752 BTC"])
def test_a_cell_with_fiat_and_crypto_keeps_the_pages_own_fiat_price_and_the_crypto_beside_it(text: str) -> None:
    price = parse_money(text, RATES)
    assert price is not None
    assert (price.amount, price.currency, price.usd) == (413.43, "USD", 413.43)  # not converted at our rate
    assert (price.crypto_amount, price.crypto_currency) == (0.006752, "BTC")


def test_a_code_elsewhere_in_the_cell_never_beats_the_symbol_beside_the_number() -> None:
    price = parse_money("$80 - pay in XMR", RATES)
    assert price is not None and (price.amount, price.currency, price.usd) == (80.0, "USD", 80.0)


@pytest.mark.parametrize("text", ["0.006752 BTC ($413.43)", "$413.43 (0.006752 BTC)"])
def test_a_currency_hint_never_beats_a_currency_the_cell_writes(text: str) -> None:
    price = parse_money(text, RATES, currency="EUR")
    assert price is not None
    assert (price.amount, price.currency, price.usd, price.usd_rate) == (413.43, "USD", 413.43, 1.0)
    assert (price.crypto_amount, price.crypto_currency) == (0.006752, "BTC")


def test_a_bare_number_takes_the_hinted_currency() -> None:
    assert parse_money("1 500", RATES) is None
    price = parse_money("1 500", RATES, currency="rub")
    assert price is not None and (price.amount, price.currency, price.usd) == (1500.0, "RUB", None)
    price = parse_money("12,50", RATES, currency="EUR")
    assert price is not None and (price.amount, price.currency, price.usd, price.rate_date) == (12.5, "EUR", 13.5, DAY)
    crypto = parse_money("0.25", RATES, currency="XMR")
    assert crypto is not None and (crypto.amount, crypto.crypto_amount, crypto.crypto_currency, crypto.usd) == (
        0.25,
        0.25,
        "XMR",
        40.0,
    )


def test_an_offer_tier_quantity() -> None:
    q = parse_quantity("0.5 g")
    assert q is not None and (q.value, q.unit) == (0.5, "g")
