import pytest
from pydantic import ValidationError

from dragnet.documents import Listing, Price, canonicalize_url, listing_id


def test_canonical_url_drops_fragment_and_default_port() -> None:
    assert canonicalize_url("HTTP://Abc.ONION:80/item/1#top") == "http://abc.onion/item/1"
    assert canonicalize_url("http://abc.onion:8080/x?a=1") == "http://abc.onion:8080/x?a=1"


def test_listing_keys_are_stable_and_versions_differ_by_content() -> None:
    one = Listing.new("http://m.onion/item/1#x", source_kind="market", title="A", text="b")
    two = Listing.new("http://M.onion/item/1", source_kind="market", title="A", text="b changed")
    assert one.id == two.id == listing_id("http://m.onion/item/1")
    assert one.doc_id != two.doc_id


def test_a_listing_from_before_the_market_fields_loads_with_their_defaults() -> None:
    old = Listing.new("http://m.onion/item/1", source_kind="market", title="A", text="b").model_dump(mode="json")
    for name in ("escrow", "payment", "offers", "category", "location", "attributes"):
        del old[name]
    old["price"] = {"amount": 10.0, "currency": "EUR", "usd": 10.8}
    loaded = Listing.model_validate(old)
    assert (loaded.escrow, loaded.payment, loaded.offers, loaded.category, loaded.location, loaded.attributes) == (
        None,
        [],
        [],
        None,
        None,
        {},
    )
    assert loaded.price is not None and (loaded.price.usd_rate, loaded.price.rate_date) == (None, None)


def test_what_a_page_says_is_cut_to_size_not_refused() -> None:
    many = {f"k{i}": "v" * 5000 for i in range(100)}
    listing = Listing.new(
        "http://m.onion/item/1",
        source_kind="market",
        title="A",
        escrow="e" * 1000,
        payment=["BTC" * 200] * 500,
        attributes={**many, "list": ["x" * 5000] * 500},
        location={"city": "c" * 1000},
    )
    assert listing.escrow is not None and len(listing.escrow) == 256
    assert len(listing.payment) == 50 and len(listing.payment[0]) == 256
    assert len(listing.attributes) == 40 and all(len(v) == 2000 for v in listing.attributes.values())
    assert listing.location is not None and listing.location.city is not None and len(listing.location.city) == 256
    with pytest.raises(ValidationError):  # a number no price can be is still refused
        Price(amount=10.0, currency="EUR", usd_rate=float("inf"))
