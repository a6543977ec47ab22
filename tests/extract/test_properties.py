"""Property-based guards for the parsers that read hostile text: whatever the input, they return
a well-formed answer or refuse it with their own error type, never crash, never yield a number
a document cannot hold."""

from __future__ import annotations

import base64
import json
import math
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from api.params import decode_after, encode_after
from dragnet.documents import MAX_AMOUNT, Listing, Price
from extract.prices import extract_prices, parse_money, parse_number
from extract.quantities import extract_quantity, parse_quantity
from index.query import parse_user_query, to_fts5
from index.store import QueryError
from lifespan.importer import EARLIEST, LATEST, import_csv, parse_date
from lifespan.store import LifespanStore

FUZZ = settings(max_examples=300, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
money_text = st.one_of(
    st.text(max_size=80),
    st.from_regex(r"[$€£]?\s?[0-9][0-9 ,.]{0,420}\s?(usd|eur|btc|xmr|руб)?", fullmatch=True),
)


def _finite_amount(value: float | None) -> bool:
    return value is None or (math.isfinite(value) and 0 <= value <= MAX_AMOUNT)


@FUZZ
@given(money_text)
@example("$" + "9" * 400)
@example("9" * 309 + " EUR")
def test_money_parsers_never_crash_and_never_yield_a_number_no_price_can_be(text: str) -> None:
    found = [*extract_prices(text), parse_money(text)]
    for price in (p for p in found if p is not None):
        assert _finite_amount(price.amount) and _finite_amount(price.usd)
        Price.model_validate(price.model_dump())  # what was parsed can be stored and read back
    assert _finite_amount(parse_number(text))


@FUZZ
@given(st.text(max_size=60))
@example("9" * 400 + " g")
def test_quantity_parsers_never_crash(text: str) -> None:
    for quantity in (extract_quantity(text), parse_quantity(text)):
        assert quantity is None or _finite_amount(quantity.value)


@FUZZ
@given(st.one_of(st.text(max_size=200), st.from_regex(r'[\[\{"(): a-z*-]{0,300}', fullmatch=True)))
@example("[" * 50_000)
@example('{"query": {"match_all": {}}}')
def test_the_query_parser_answers_or_refuses_with_a_query_error(text: str) -> None:
    try:
        parsed = parse_user_query(text)
    except QueryError:
        return
    to_fts5(parsed)  # whatever was accepted can be handed to the embedded engine


@FUZZ
@given(st.text(max_size=120))
@example(base64.urlsafe_b64encode(b"[" * 3000).decode())  # nested deeper than json's recursion limit
def test_page_tokens_decode_or_refuse(token: str) -> None:
    try:
        values = decode_after(token)
    except QueryError:
        return
    assert values is None or (1 <= len(values) <= 4 and encode_after(values))


@FUZZ
@given(
    st.lists(
        st.one_of(st.integers(), st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=20), st.booleans()),
        min_size=1,
        max_size=4,
    )
)
def test_page_tokens_round_trip_only_values_a_sort_key_can_hold(values: list[Any]) -> None:
    token = encode_after(values)
    try:
        assert decode_after(token) == values
    except QueryError:
        unsortable = [v for v in values if isinstance(v, bool) or (isinstance(v, float) and not math.isfinite(v))]
        assert unsortable or any(isinstance(v, int) and abs(v) >= 2**63 for v in values)


@FUZZ
@given(st.one_of(st.text(max_size=40), st.dates().map(str), st.datetimes().map(lambda d: d.isoformat())))
@example("9999-12-31")
@example("0001-01-01T00:00:00+14:00")
def test_lifespan_dates_are_in_range_or_refused(value: str) -> None:
    try:
        stamp = parse_date(value)
    except ValueError:
        return
    assert EARLIEST <= stamp < LATEST


listing_dump = st.fixed_dictionaries(
    {
        "id": st.text(max_size=40),
        "url": st.text(max_size=60),
        "canonical_url": st.text(max_size=60),
        "source_kind": st.sampled_from(["market", "forum", "social", "bogus"]),
        "title": st.text(max_size=60),
        "text": st.text(max_size=200),
        "content_sha256": st.text(max_size=64),
    },
    optional={
        "price": st.fixed_dictionaries(
            {"amount": st.floats(allow_nan=True, allow_infinity=True), "currency": st.text(max_size=5)}
        ),
        "market": st.one_of(st.none(), st.text(max_size=20)),
        "surprise": st.integers(),
    },
)


@FUZZ
@given(listing_dump)
def test_a_listing_document_validates_or_refuses_and_what_validates_round_trips_through_json(raw: dict) -> None:
    try:
        listing = Listing.model_validate(raw)
    except ValueError:  # pydantic's ValidationError: the pipeline dead-letters such an item
        return
    text = listing.model_dump_json()
    assert json.loads(text)  # strict JSON: no NaN or Infinity
    assert Listing.model_validate_json(text) == listing


@pytest.mark.parametrize("content", [b"\xff\xfe\x00binary\x00", "name,start\nmarkt\xe9,2020-01-01\n".encode("latin-1")])
def test_the_lifespan_importer_reports_unreadable_files_instead_of_a_traceback(
    tmp_path: Path, settings: Any, content: bytes
) -> None:
    path = tmp_path / "markets.csv"
    path.write_bytes(content)
    result = import_csv(LifespanStore(settings=settings), path)
    assert result.imported == 0 and result.errors
