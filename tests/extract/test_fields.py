"""The readers of fields a site profile points at (price, quantity, a vendor's key)."""

from __future__ import annotations

import pytest

from crawlers.simsites.data import make_vendor_key
from extract.pgp import fingerprint_of_key
from extract.prices import parse_money
from extract.quantities import parse_quantity


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
def test_parse_money(text: str, amount: float, currency: str, usd: float, settings) -> None:
    price = parse_money(text, settings.crawl.usd_rates)
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
def test_a_cell_with_fiat_and_crypto_keeps_the_pages_own_fiat_price_and_the_crypto_beside_it(
    text: str, settings
) -> None:
    price = parse_money(text, settings.crawl.usd_rates)
    assert price is not None
    assert (price.amount, price.currency, price.usd) == (413.43, "USD", 413.43)  # not converted at our rate
    assert (price.crypto_amount, price.crypto_currency) == (0.006752, "BTC")


def test_a_code_elsewhere_in_the_cell_never_beats_the_symbol_beside_the_number(settings) -> None:
    price = parse_money("$80 - pay in XMR", settings.crawl.usd_rates)
    assert price is not None and (price.amount, price.currency, price.usd) == (80.0, "USD", 80.0)
