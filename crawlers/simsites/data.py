"""Deterministic content for the simulated sites, generated from the shared data set.

Titles and vendors come from ``darknet_listings.csv`` (real market titles, drug and non-drug),
hard negatives from ``pharmacy_catalog.csv``; the forum and social posts are written here from
templates (sale ads in the style of the real ones, and innocent posts: harm reduction, news,
recovery, buyers asking, slang used innocently).  The same seed always yields the same world,
so a test can compare what was crawled with what the site serves (its ground truth).

The data is read from ``get_settings().training_data_dir`` at run time and never copied into
the repository.
"""

from __future__ import annotations

import base64
import csv
import hashlib
import random
import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import pgpy
from pgpy.constants import EllipticCurveOID, HashAlgorithm, KeyFlags, PubKeyAlgorithm

COUNTRIES = (
    "Germany",
    "Netherlands",
    "United Kingdom",
    "United States",
    "Canada",
    "Spain",
    "France",
    "Poland",
    "Australia",
    "Belgium",
    "Czech Republic",
    "Sweden",
)
DESTINATIONS = (
    "Worldwide",
    "EU",
    "United States",
    "United Kingdom",
    "Canada",
    "Australia",
    "Germany",
    "Netherlands",
    "Scandinavia",
)
UNITS = ("g", "mg", "pills", "tabs", "ml", "kg", "blotters")
CONTACT_KINDS = ("telegram", "wickr")

_B58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
_B32 = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"


@dataclass(frozen=True)
class VendorRecord:
    name: str
    pgp_public_key: str = ""
    pgp_fingerprint: str = ""
    rating: float = 0.0  # shown on the vendor page as "4.7/5"
    sales: int = 0  # shown as "1,234 sales"
    contacts: tuple[tuple[str, str], ...] = ()  # shown as "Telegram: @handle"


@dataclass(frozen=True)
class MarketItem:
    """One listing as a market serves it (the ground truth of its detail page)."""

    item_id: int
    title: str
    vendor: str
    category: str
    is_drug_sale: bool
    substance: str | None
    fiat_amount: float
    fiat_currency: str
    crypto_amount: float
    crypto_currency: str
    quantity_value: float
    quantity_unit: str
    ships_from: str
    ships_to: tuple[str, ...]
    description: str
    escrow: bool
    contacts: tuple[tuple[str, str], ...] = ()
    crypto_addresses: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Post:
    """One forum or social post (the ground truth of its permalink)."""

    post_id: int
    author: str
    text: str
    is_sale: bool
    thread_id: int | None = None
    board: str | None = None
    contacts: tuple[tuple[str, str], ...] = ()


@dataclass
class MarketData:
    items: list[MarketItem]
    vendors: dict[str, VendorRecord] = field(default_factory=dict)


@lru_cache(maxsize=4)
def _listing_rows(data_dir: Path) -> tuple[dict[str, str], ...]:
    path = data_dir / "darknet_listings.csv"
    if not path.is_file():
        raise FileNotFoundError(
            f"{path} is missing: the simulated sites are generated from the shared data set "
            "(set classifier.data_dir / DRAGNET_CLASSIFIER__DATA_DIR)"
        )
    with path.open(newline="", encoding="utf-8", errors="replace") as handle:
        rows = [row for row in csv.DictReader(handle) if _clean(row.get("title", ""))]
    return tuple(rows)


@lru_cache(maxsize=4)
def _pharmacy_names(data_dir: Path) -> tuple[str, ...]:
    path = data_dir / "pharmacy_catalog.csv"
    if not path.is_file():
        return ("Alprazolam 0.5mg Tablet", "Tramadol 50mg Capsule", "Zolpidem 10mg Tablet")
    with path.open(newline="", encoding="utf-8", errors="replace") as handle:
        return tuple(row["name"].strip() for row in csv.DictReader(handle) if row.get("name"))


def _clean(text: str) -> str:
    """Drop mojibake and control characters, squeeze spaces: titles must survive HTML round trips."""
    text = "".join(ch for ch in text if ch.isprintable() and ord(ch) < 0x2000)
    text = text.replace("\ufffd", "")
    return re.sub(r"\s+", " ", text).strip()


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:48] or "item"


def _vendor_name(raw: str) -> str:
    name = re.sub(r"[^A-Za-z0-9_.-]", "", raw)[:32]
    return name or "anon"


def _b58encode(raw: bytes) -> str:
    num = int.from_bytes(raw, "big")
    out = ""
    while num:
        num, rem = divmod(num, 58)
        out = _B58[rem] + out
    return "1" * (len(raw) - len(raw.lstrip(b"\0"))) + out


def _bech32_polymod(values: list[int]) -> int:
    gen = (0x3B6A57B2, 0x26508E6D, 0x1EA119FA, 0x3D4233DD, 0x2A1462B3)
    chk = 1
    for value in values:
        top = chk >> 25
        chk = (chk & 0x1FFFFFF) << 5 ^ value
        for i in range(5):
            chk ^= gen[i] if (top >> i) & 1 else 0
    return chk


def btc_address(rng: random.Random) -> str:
    """A checksum-valid Bitcoin address (P2PKH base58check or P2WPKH bech32) over random bytes."""
    program = bytes(rng.getrandbits(8) for _ in range(20))
    if rng.random() < 0.5:
        payload = b"\0" + program
        return _b58encode(payload + hashlib.sha256(hashlib.sha256(payload).digest()).digest()[:4])
    acc, bits, data = 0, 0, [0]
    for byte in program:
        acc = (acc << 8) | byte
        bits += 8
        while bits >= 5:
            bits -= 5
            data.append((acc >> bits) & 31)
    if bits:
        data.append((acc << (5 - bits)) & 31)
    hrp = "bc"
    expanded = [ord(c) >> 5 for c in hrp] + [0] + [ord(c) & 31 for c in hrp]
    polymod = _bech32_polymod(expanded + data + [0] * 6) ^ 1
    checksum = [(polymod >> 5 * (5 - i)) & 31 for i in range(6)]
    return hrp + "1" + "".join(_B32[d] for d in data + checksum)


def xmr_address(rng: random.Random) -> str:
    return "4" + "".join(rng.choice(_B58) for _ in range(94))


def eth_address(rng: random.Random) -> str:
    return "0x" + "".join(rng.choice("0123456789abcdef") for _ in range(40))


def _handle(rng: random.Random, vendor: str) -> str:
    base = re.sub(r"[^a-z0-9_]", "", vendor.lower())[:14]
    if len(base) < 3 or not base[0].isalpha():
        base = rng.choice(["plug", "frosty", "candyman", "drgreen", "kingpin"]) + base
    return f"{base}{rng.choice(['', '_', '_official', 'shop', rng.randint(10, 99)])}"


def generate_market(
    name: str,
    count: int,
    *,
    data_dir: Path,
    seed: int,
    fiat: str,
    crypto: str,
    rates: dict[str, float],
    make_keys: bool = True,
) -> MarketData:
    """``count`` listings for market ``name``: real titles and vendors, generated offer details."""
    rows = _listing_rows(data_dir)
    rng = random.Random(f"{seed}:{name}")
    picked = rng.sample(range(len(rows)), min(count, len(rows)))
    items: list[MarketItem] = []
    vendors: dict[str, VendorRecord] = {}
    seen_titles: set[str] = set()
    for index, row_index in enumerate(picked, start=1):
        row = rows[row_index]
        title = _clean(row["title"])[:140]
        if title.lower() in seen_titles:
            title = f"{title} #{index}"
        seen_titles.add(title.lower())
        vendor = _vendor_name(row.get("vendor", ""))
        is_drug = row.get("is_drug_sale") == "1"
        fiat_amount = round(rng.uniform(8, 900), 2)
        crypto_amount = round(fiat_amount * rates.get(fiat, 1.0) / rates[crypto], 6)
        ships_from = rng.choice(COUNTRIES)
        ships_to = tuple(sorted(rng.sample(DESTINATIONS, rng.randint(1, 3))))
        unit = rng.choice(UNITS)
        qvalue = float(rng.choice([1, 2, 3.5, 5, 7, 10, 14, 25, 28, 50, 100]))
        contacts: tuple[tuple[str, str], ...] = ()
        addresses: tuple[tuple[str, str], ...] = ()
        extra = []
        if rng.random() < 0.3:
            kind = rng.choice(CONTACT_KINDS)
            handle = _handle(rng, vendor)
            contacts = ((kind, handle),)
            extra.append(f"For bulk orders contact me on {kind}: @{handle}")
        if rng.random() < 0.2:
            address = btc_address(rng)
            addresses = (("btc", address),)
            extra.append(f"Direct deal (no escrow) BTC: {address}")
        description = " ".join(
            [
                f"{title}.",
                rng.choice(
                    [
                        "Top quality, lab tested.",
                        "Same day dispatch.",
                        "Stealth shipping, vacuum sealed.",
                        "Reship or refund if lost.",
                        "Please read my terms before ordering.",
                        "Restocked weekly, finalize early for trusted buyers only.",
                    ]
                ),
                f"Category: {_clean(row.get('category', '')) or 'Other'}.",
                *extra,
            ]
        )
        items.append(
            MarketItem(
                item_id=1000 + index,
                title=title,
                vendor=vendor,
                category=_clean(row.get("category", "")),
                is_drug_sale=is_drug,
                substance=row.get("substance") or None,
                fiat_amount=fiat_amount,
                fiat_currency=fiat,
                crypto_amount=crypto_amount,
                crypto_currency=crypto,
                quantity_value=qvalue,
                quantity_unit=unit,
                ships_from=ships_from,
                ships_to=ships_to,
                description=description,
                escrow=rng.random() < 0.8,
                contacts=contacts,
                crypto_addresses=addresses,
            )
        )
        vendors.setdefault(vendor, VendorRecord(vendor))
    if make_keys:
        vendors = {name_: make_vendor_key(name_) for name_ in vendors}
    return MarketData(items=items, vendors=vendors)


def make_vendor_key(name: str) -> VendorRecord:
    """An Ed25519 OpenPGP key for the vendor page (fast to generate; fingerprint is random)."""
    key = new_pgp_key(name)
    # the page's other figures from the name alone: the market's own draws stay as they were
    rng = random.Random(f"vendor:{name}")
    contacts = tuple((kind, _handle(rng, name)) for kind in rng.sample(CONTACT_KINDS, rng.randint(0, 2)))
    return VendorRecord(
        name=name,
        pgp_public_key=str(key.pubkey),
        pgp_fingerprint=str(key.fingerprint).replace(" ", ""),
        rating=round(rng.uniform(3.0, 5.0), 1),
        sales=rng.randint(0, 25_000),
        contacts=contacts,
    )


def new_pgp_key(uid: str) -> pgpy.PGPKey:

    key = pgpy.PGPKey.new(PubKeyAlgorithm.EdDSA, EllipticCurveOID.Ed25519)
    key.add_uid(pgpy.PGPUID.new(uid), usage={KeyFlags.Sign, KeyFlags.Certify}, hashes=[HashAlgorithm.SHA256])
    return key


SALE_TEMPLATES = (
    "Selling {title}. {qty} for {price}. Ships from {country}. Hit me up on {kind} @{handle}",
    "NEW STOCK 🔥 {title} — {price} per {qty}. DM on {kind}: @{handle}. Escrow accepted.",
    "{title} available now, {qty} = {price}, discreet delivery to {dest}. {kind} @{handle}",
    "Plug here 🔌 {title}. Prices start {price}. Contact {kind} @{handle}, no time wasters",
)
INNOCENT_TEMPLATES = (
    "PSA: test your stuff before use. Fentanyl test strips are free at most harm reduction centres.",
    "My doctor prescribed {pharma} for my back. Anyone else had dizziness on it?",
    "Day {n} clean today. Thanks to everyone in this group who kept me going.",
    "News: police dismantled a market in {country} this week, dozens of arrests reported.",
    "Is it safe to mix {pharma} with alcohol? Asking for my grandmother, the leaflet is unclear.",
    "Anyone know a vendor who ships to {country}? Looking to buy, not selling anything.",
    "That new album is pure fire, the snow scenes in the video are dope 🔥❄️",
    "How do I verify a PGP signature on a mirror list? Using gpg --verify but it complains.",
    "Reminder: never finalize early. Scams are up since the last exit scam.",
    "Our pharmacy now stocks {pharma}. Prescription required, ask your pharmacist.",
    "Weed is legal here now and honestly the dispensary prices are lower than the street.",
    "Research paper on naloxone distribution in {country} shows overdoses fell sharply.",
)


def _post_text(rng: random.Random, sale: bool, titles: list[str], pharma: tuple[str, ...]) -> tuple[str, tuple]:
    if sale:
        title = rng.choice(titles)
        kind = rng.choice(CONTACT_KINDS)
        handle = _handle(rng, title.split(" ")[0])
        text = rng.choice(SALE_TEMPLATES).format(
            title=title,
            qty=f"{rng.choice([1, 3.5, 7, 10, 28])}{rng.choice(['g', ' pills', ' tabs'])}",
            price=f"${rng.randint(20, 400)}",
            country=rng.choice(COUNTRIES),
            dest=rng.choice(DESTINATIONS),
            kind=kind,
            handle=handle,
        )
        return text, ((kind, handle),)
    text = rng.choice(INNOCENT_TEMPLATES).format(
        pharma=rng.choice(pharma), n=rng.randint(2, 900), country=rng.choice(COUNTRIES)
    )
    return text, ()


def generate_posts(
    name: str,
    count: int,
    *,
    data_dir: Path,
    seed: int,
    sale_ratio: float = 0.4,
    threads: int | None = None,
    boards: tuple[str, ...] = (),
) -> list[Post]:
    """Forum or social posts: sale ads built on real drug titles, and innocent / hard-negative posts."""
    rows = _listing_rows(data_dir)
    rng = random.Random(f"{seed}:{name}")
    drug_titles = [
        _clean(r["title"])[:80] for r in rng.sample(rows, min(2000, len(rows))) if r.get("is_drug_sale") == "1"
    ]
    pharma = _pharmacy_names(data_dir)
    posts = []
    thread_count = threads or 1
    for index in range(count):
        sale = rng.random() < sale_ratio
        text, contacts = _post_text(rng, sale, drug_titles, pharma)
        author = rng.choice(["anon", "user", "throwaway", "night", "green", "blue"]) + str(rng.randint(10, 9999))
        thread_id = (index % thread_count) + 1 if threads else None
        board = boards[(thread_id or 0) % len(boards)] if boards else None
        posts.append(
            Post(
                post_id=5000 + index,
                author=author,
                text=f"{text} [{index}]",
                is_sale=sale,
                thread_id=thread_id,
                board=board,
                contacts=contacts,
            )
        )
    return posts


def onion_name(label: str) -> str:
    """A v3-shaped (56 base32 characters) onion name derived from ``label``: stable across runs."""

    digest = hashlib.sha3_256(label.encode()).digest() + hashlib.sha3_256(b"2" + label.encode()).digest()
    return base64.b32encode(digest).decode().lower()[:56] + ".onion"
