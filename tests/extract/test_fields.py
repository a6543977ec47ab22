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
