"""Listings for the entity and identity tests: one vendor "Lion" on two markets sharing a PGP
key, a same-name "Lion" on a third market with another key (not the same seller), and a forum
post carrying the first Lion's Telegram handle."""

from __future__ import annotations

from dragnet.documents import Contact, CryptoAddress, Listing
from index.store import ListingStore
from index.synthetic import make_listing

KEY_ONE = "7A1B 2C3D 4E5F 6A7B 8C9D 0E1F 2A3B 4C5D 6E7F 8A9B"
KEY_ONE_NORMAL = KEY_ONE.replace(" ", "")
KEY_TWO = "0F0F 1E1E 2D2D 3C3C 4B4B 5A5A 6969 7878 8787 9696"
WALLET = "bc1qlionlionlionlionlion0"
ONION = "lion" + "a" * 52 + ".onion"
PHONE = "+44 7700 900123"
HANDLE = "@Lion_Alpha"


def lion_listings() -> list[Listing]:
    return [
        make_listing(
            901,
            vendor="Lion",
            market="alpha",
            pgp=KEY_ONE,
            title="lion pressed pills",
            days=2,
            contacts=[Contact(kind="telegram", handle=HANDLE)],
            crypto=[CryptoAddress(chain="btc", address=WALLET)],
        ),
        make_listing(902, vendor="Lion", market="bravo", pgp=KEY_ONE.lower(), title="lion bars", days=9),
        make_listing(
            903,
            vendor="Lion",
            market="charlie",
            pgp=KEY_TWO,
            title="lion crystals",
            days=5,
            contacts=[Contact(kind="wickr", handle="lionking"), Contact(kind="whatsapp", handle=PHONE)],
        ),
        make_listing(
            904,
            vendor="poster_x",
            market="dread",
            source_kind="forum",
            title="who is lion",
            text=f"ask tele: @lion_alpha for the good stuff, new mirror {ONION}",
            days=12,
            contacts=[Contact(kind="telegram", handle="lion_alpha")],
        ),
    ]


def add_lions(store: ListingStore) -> list[Listing]:
    listings = lion_listings()
    store.upsert(listings)
    store.refresh()
    return listings
