"""Vendor entity linking, on every backend."""

from __future__ import annotations

from dragnet.documents import Contact, CryptoAddress
from index.store import ListingStore
from index.synthetic import make_listing
from index.vendors import resolve_vendor

PGP = "1111 2222 3333 4444 5555 6666 7777 8888 9999 AAAA"


def test_aliases_link_across_markets_by_pgp_handle_and_wallet(store: ListingStore) -> None:
    handle = [Contact(kind="wickr", handle="@SnowKing")]
    wallet = [CryptoAddress(chain="xmr", address="4AexampleMoneroAddressForTestsOnly0000000000")]
    listings = [
        make_listing(1, vendor="snowking", market="alpha", pgp=PGP, days=1),
        make_listing(2, vendor="snowking", market="alpha", days=2),
        make_listing(
            3, vendor="k1ng_of_snow", market="bravo", pgp=PGP.replace(" ", "").lower(), contacts=handle, days=10
        ),
        make_listing(
            4,
            vendor="frosty",
            market="charlie",
            contacts=[Contact(kind="wickr", handle="snowking")],
            crypto=wallet,
            days=20,
        ),
        make_listing(5, vendor="frosty", market="charlie", days=21),
        make_listing(6, vendor="unrelated", market="alpha", days=3),
        make_listing(7, vendor="snowking", market="bravo", days=4),  # same name elsewhere, nothing shared
        make_listing(8, market="chirp", source_kind="social", vendor="poster", crypto=wallet, days=30),
    ]
    store.upsert(listings)
    store.refresh()
    entity = resolve_vendor(store, "snowking", "alpha")
    assert entity is not None
    names = {(a.name, a.market): a for a in entity.aliases}
    assert set(names) == {("snowking", "alpha"), ("k1ng_of_snow", "bravo"), ("frosty", "charlie"), ("poster", "chirp")}
    assert entity.aliases[0].name == "snowking" and entity.aliases[0].listings == 2
    assert names[("frosty", "charlie")].listings == 2
    assert "pgp:" + PGP.replace(" ", "") in entity.identifiers
    assert "contact:wickr:snowking" in entity.identifiers
    links = {(item.a, item.b, item.identifier) for item in entity.links}
    assert ("k1ng_of_snow@bravo", "snowking@alpha", "pgp:" + PGP.replace(" ", "")) in links
    assert ("frosty@charlie", "k1ng_of_snow@bravo", "contact:wickr:snowking") in links
    ids = [item.id for item in entity.listings]
    assert set(ids) == {listings[i].id for i in (0, 1, 2, 3, 4, 7)}
    assert ids[0] == listings[7].id  # newest first
    assert sum(b.count for b in entity.timeline) == 6
    assert resolve_vendor(store, "nobody") is None
    lone = resolve_vendor(store, "unrelated")
    assert lone is not None and [a.name for a in lone.aliases] == ["unrelated"] and not lone.links
