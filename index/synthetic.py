"""Synthetic listings for tests, benchmarks and the demo: invented markets, vendors, handles and
prices (no real people's data), each field derived from the listing number so that a test can
predict it."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

from dragnet.documents import INTENTS, Classification, Contact, CryptoAddress, Listing, Price, SourceKind, Vendor

BASE_TIME = datetime(2026, 10, 1, tzinfo=UTC)
MARKETS = ("alpha", "bravo", "charlie")
WORDS = ("quality", "stealth", "shipping", "escrow", "batch", "tested", "pure", "discount", "bulk", "sample")
PRODUCTS = (
    ("pressed oxycodone pills", "opioids"),
    ("colombian cocaine", "stimulants"),
    ("og kush buds", "cannabis"),
    ("lsd blotter tabs", "psychedelics"),
    ("ketamine crystals", "dissociatives"),
    ("alprazolam bars", "benzodiazepines"),
)
COUNTRIES = ("NL", "DE", "US", "UK", "CA")


def make_listing(
    i: int,
    *,
    market: str | None = None,
    vendor: str | None = None,
    title: str | None = None,
    text: str | None = None,
    price_usd: float | None = -1.0,
    days: int | None = None,
    drug: bool | None = None,
    score: float | None = None,
    substance: str | None = None,
    pgp: str | None = None,
    contacts: list[Contact] | None = None,
    crypto: list[CryptoAddress] | None = None,
    ships_from: str | None = "",
    source_kind: SourceKind = "market",
    url: str | None = None,
    **extra: object,
) -> Listing:
    """Listing number ``i``; every field derives from ``i`` unless given, so tests can predict it."""
    rng = random.Random(i)
    product, default_substance = PRODUCTS[i % len(PRODUCTS)]
    market = market or MARKETS[i % len(MARKETS)]
    substance = substance or default_substance
    drug = (i % 5 != 0) if drug is None else drug
    score = (0.55 + (i % 40) / 100 if drug else 0.05 + (i % 30) / 100) if score is None else score
    when = BASE_TIME + timedelta(days=(i % 60) if days is None else days, minutes=i)
    price = (
        None
        if price_usd is None
        else Price(
            amount=round(10 + i * 1.5, 2) if price_usd == -1.0 else price_usd,
            currency="USD",
            usd=round(10 + i * 1.5, 2) if price_usd == -1.0 else price_usd,
        )
    )
    return Listing.new(
        url or f"http://{market}xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx.onion/listing/{i}",
        source_kind=source_kind,
        title=title if title is not None else f"{product} {rng.choice(WORDS)} #{i}",
        text=text if text is not None else " ".join(rng.choice(WORDS) for _ in range(30)) + f" {product}",
        market=market,
        platform=None if source_kind == "market" else market,
        vendor=Vendor(name=vendor or f"vendor{i % 7}", market=market, pgp_fingerprint=pgp),
        price=price,
        ships_from=COUNTRIES[i % len(COUNTRIES)] if ships_from == "" else ships_from,
        crawled_at=when,
        last_seen=when,
        contacts=contacts or [],
        crypto=crypto or [],
        classification=Classification(
            is_drug_sale=drug,
            score=score,
            threshold=0.5,
            substances={substance: 0.9} if drug else {},
            model_version="test-1",
            intent="sell" if drug else OTHER_INTENTS[i % len(OTHER_INTENTS)],
        ),
        **extra,
    )


OTHER_INTENTS = tuple(name for name in INTENTS if name != "sell")


def corpus(n: int) -> list[Listing]:
    return [make_listing(i) for i in range(n)]
