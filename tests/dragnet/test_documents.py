from dragnet.documents import Listing, canonicalize_url, listing_id


def test_canonical_url_drops_fragment_and_default_port() -> None:
    assert canonicalize_url("HTTP://Abc.ONION:80/item/1#top") == "http://abc.onion/item/1"
    assert canonicalize_url("http://abc.onion:8080/x?a=1") == "http://abc.onion:8080/x?a=1"


def test_listing_keys_are_stable_and_versions_differ_by_content() -> None:
    one = Listing.new("http://m.onion/item/1#x", source_kind="market", title="A", text="b")
    two = Listing.new("http://M.onion/item/1", source_kind="market", title="A", text="b changed")
    assert one.id == two.id == listing_id("http://m.onion/item/1")
    assert one.doc_id != two.doc_id
