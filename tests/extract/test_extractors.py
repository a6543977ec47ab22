"""Unit tests of the shared extractors: each assertion is a fact about a realistic post."""

from __future__ import annotations

import pytest

from dragnet.documents import Contact, CryptoAddress, Price, Quantity
from extract.contacts import extract_contacts
from extract.crypto import extract_crypto
from extract.pgp import extract_pgp_fingerprints
from extract.prices import extract_price, extract_prices
from extract.quantities import extract_quantity
from extract.rates import usd_rates

GENESIS = "1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa"  # valid base58check


BECH32 = "bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq"  # valid bech32


ETH = "0xde0B295669a9FD93d5F28D9Ec85E40f4cb697BAe"


XMR = "44AFFq5kSiGBoZ4NMDwYtN18obc8AemS33DBLWs3H7otXft3XjrpDtQGv7SqSsaBYBb98uNbr2VBBEt7f2wfn3RVGQBEP3A"


def kinds(contacts: list[Contact]) -> set[tuple[str, str]]:
    return {(c.kind, c.handle) for c in contacts}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("DM on wickr: snowking99 or tele @plugmaster", {("wickr", "snowking99"), ("telegram", "plugmaster")}),
        ("join https://t.me/green_house_shop for the menu", {("telegram", "green_house_shop")}),
        ("snap: weedman420", {("snapchat", "weedman420")}),
        ("whatsapp +44 7700 900123 only", {("whatsapp", "+447700900123")}),
        ("order via wa.me/447700900123", {("whatsapp", "447700900123")}),
        ("signal: +1 555 123 4567", {("signal", "+15551234567")}),
        ("threema: ABCD1234", {("threema", "ABCD1234")}),
        ("mail plug@protonmail.com", {("email", "plug@protonmail.com")}),
        ("DM @frosty.vendor for prices", {("handle", "frosty.vendor")}),
        ("телега @msk_shop", {("telegram", "msk_shop")}),
        ("session id: 05" + "ab" * 32, {("session", "05" + "ab" * 32)}),
        # upper case and other scripts reach every pattern (each is skipped when its trigger is absent)
        ("WICKR ME: SnowKing99 / TELEGRAM: @PlugMaster", {("wickr", "SnowKing99"), ("telegram", "PlugMaster")}),
        ("ТЕЛЕГА @msk_shop", {("telegram", "msk_shop")}),
        (
            "WhatsApp +44 7700 900123, SIGNAL: +1 555 123 4567",
            {("whatsapp", "+447700900123"), ("signal", "+15551234567")},
        ),
        ("KIK: frostyplug | SnapChat @weedman420", {("kik", "frostyplug"), ("snapchat", "weedman420")}),
        ("ORDER VIA WA.ME/447700900123", {("whatsapp", "447700900123")}),
    ],
)
def test_contacts(text: str, expected: set[tuple[str, str]]) -> None:
    found = extract_contacts(text)
    assert all(isinstance(c, Contact) for c in found)
    assert kinds(found) == expected


def test_a_mention_is_not_a_contact() -> None:
    assert extract_contacts("thanks @maria for the photos, see you at signal hill") == []


def test_crypto_addresses_of_every_chain() -> None:
    found = extract_crypto(f"BTC {GENESIS} or {BECH32}; eth {ETH}; monero {XMR}")
    assert [(a.chain, a.address) for a in found] == [("btc", GENESIS), ("btc", BECH32), ("eth", ETH), ("xmr", XMR)]
    assert all(isinstance(a, CryptoAddress) for a in found)


def test_strict_crypto_checks_bitcoin_checksums() -> None:
    broken = GENESIS[:-1] + ("b" if GENESIS[-1] != "b" else "c")
    broken_bech32 = BECH32[:-1] + ("p" if BECH32[-1] != "p" else "q")
    assert extract_crypto(f"{broken} {broken_bech32}", strict=True) == []
    assert [a.address for a in extract_crypto(f"{GENESIS} {BECH32}", strict=True)] == [GENESIS, BECH32]
    assert extract_crypto("the word Bitcoin and 1234567890 are not addresses") == []


def test_pgp_fingerprints_grouped_and_plain() -> None:
    grouped = "6A3B 91C2 D4E5 F607 1829  3A4B 5C6D 7E8F 9012 3456"
    plain = "0123456789abcdef0123456789ABCDEF01234567"
    found = extract_pgp_fingerprints(f"PGP: {grouped}\nbackup key {plain}")
    assert found == ["6A3B91C2D4E5F60718293A4B5C6D7E8F90123456", plain.upper()]
    # an Ethereum address is not a fingerprint
    assert extract_pgp_fingerprints(ETH) == []


@pytest.mark.parametrize(
    ("text", "amount", "currency"),
    [
        ("3.5g for $80, ships fast", 80.0, "USD"),
        ("1 gramo 60€ envío discreto", 60.0, "EUR"),
        ("£45 per ounce", 45.0, "GBP"),
        ("only 0.004 BTC.", 0.004, "BTC"),
        ("3000 руб за 2г", 3000.0, "RUB"),
        ("R$ 150 a grama", 150.0, "BRL"),
        ("1,500 USD per kilo", 1500.0, "USD"),
        ("12,50 EUR", 12.5, "EUR"),
        ("2.5 XMR", 2.5, "XMR"),
    ],
)
def test_prices(text: str, amount: float, currency: str) -> None:
    price = extract_price(text)
    assert isinstance(price, Price)
    assert price.amount == pytest.approx(amount)
    assert price.currency == currency


def test_price_usd_uses_the_dated_rates() -> None:
    eur, usd = usd_rates()["EUR"], usd_rates()["USD"]
    price = extract_price("40 EUR")
    assert price is not None and price.usd == round(40 * eur.usd, 2)
    assert extract_prices("$10 or €20") == [
        Price(amount=10, currency="USD", usd=10.0, usd_rate=1.0, rate_date=usd.day),
        Price(amount=20, currency="EUR", usd=round(20 * eur.usd, 2), usd_rate=eur.usd, rate_date=eur.day),
    ]
    assert extract_price("no money here, version 2.0") is None


@pytest.mark.parametrize(
    ("text", "value", "unit"),
    [
        ("3.5g cocaine", 3.5, "g"),
        ("Xanax 2mg x 100 pills", 100, "pills"),
        ("100x xanax 2mg", 100, "units"),
        ("1 kilo of hash", 1, "kg"),
        ("LSD 10 tabs 200ug", 10, "tabs"),
        ("half oz of loud", 0.5, "oz"),
        ("QP for sale", 0.25, "lb"),
        ("an eighth for $40", 3.5, "g"),
        ("oxycodone 80mg", 80, "mg"),
        ("мефедрон 2г", 2, "g"),
    ],
)
def test_quantities(text: str, value: float, unit: str) -> None:
    quantity = extract_quantity(text)
    assert isinstance(quantity, Quantity)
    assert (quantity.value, quantity.unit) == (pytest.approx(value), unit)


def test_no_quantity_in_plain_text() -> None:
    assert extract_quantity("see you at the key party") is None
