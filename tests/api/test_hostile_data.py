"""One hostile listing must never break search, export or takedown ingest: numbers that are not
numbers are refused where a document is built (the item goes to the dead-letter queue with its
reason), and every CSV cell stays text in any spreadsheet locale."""

from __future__ import annotations

import csv
import io
import json
import re

from dragnet.csvsafe import safe_cell
from index.store import SearchQuery
from index.synthetic import make_listing
from takedown.service import FeedService, ingest_from_store
from tests.api.testkit import ApiEnv
from workers.dlq import open_dlq
from workers.submit import process_in_process

_FORMULA_AFTER_SEPARATOR = re.compile(r"(?:^|[;,])\s*[=+\-@]")


def test_a_price_of_400_digits_is_dead_lettered_and_search_export_and_ingest_still_work(api_env: ApiEnv) -> None:
    good = make_listing(500, market="alpha", title="oxycodone 30mg, 100 pills", drug=True)
    poisoned = make_listing(501, market="alpha", title="overflowing price").model_dump(mode="json")
    poisoned["price"] = json.loads('{"amount": 1e999, "currency": "USD", "usd": 1e999}')  # inf, as json reads it
    text_only = make_listing(502, market="alpha", title="oxy", price_usd=None, text="$" + "9" * 400 + " per pill")
    for item in (good, text_only):
        item.classification = None  # classified by the pipeline, like a crawled listing
    outcome = process_in_process([good.model_dump(mode="json"), poisoned, text_only], settings=api_env.settings)

    assert outcome.dead_lettered == 1
    (entry,) = open_dlq(api_env.settings).list()
    assert "price" in entry.reason and "finite" in entry.reason
    stored = api_env.store.get(text_only.id)
    assert stored is not None and stored.price is None  # 400 digits are no price

    client = api_env.client(api_env.analyst)
    found = client.get("/api/search", params={"market": "alpha", "size": 100})
    assert found.status_code == 200
    ids = {hit["listing"]["id"] for hit in found.json()["hits"]}
    assert {good.id, text_only.id} <= ids and poisoned["id"] not in ids
    export = client.get("/api/export", params={"market": "alpha", "format": "csv"})
    rows = list(csv.DictReader(io.StringIO(export.text)))
    assert len(rows) == api_env.store.count(SearchQuery(market=["alpha"])) == int(export.headers["X-Total-Count"])
    result = ingest_from_store(FeedService(api_env.settings), api_env.store)  # walks every hit, poison-free
    assert result.skipped >= 0


def test_no_csv_cell_can_start_a_formula_in_comma_or_semicolon_locales(api_env: ApiEnv) -> None:
    hostile = ["v;=1+1;w", "a, +cmd|' /C calc'!A0", '=HYPERLINK("http://x")', "x;  @SUM(A1)", "-2+3"]
    api_env.store.upsert(
        [make_listing(600 + n, market="locale", vendor=name, title=name) for n, name in enumerate(hostile)]
    )
    api_env.store.refresh()
    export = api_env.client(api_env.analyst).get("/api/export", params={"market": "locale", "format": "csv"})
    lines = export.text.splitlines()
    assert all(line.startswith('"') and line.endswith('"') for line in lines)  # every cell quoted
    for delimiter in (",", ";"):  # how a spreadsheet in either locale splits an unquoted line
        for line in lines:
            for cell in line.replace('"', "").split(delimiter):
                assert not re.match(r"\s*[=+\-@]", cell), (delimiter, cell)
    for name in hostile:
        assert not _FORMULA_AFTER_SEPARATOR.search(safe_cell(name))
    assert safe_cell(-0.5) == "-0.5" and safe_cell(3) == "3"  # numbers Dragnet computed stay numbers
