"""Embedded-backend specifics: a store file written by an older Dragnet opens and searches."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from index.backends.embedded import EmbeddedStore
from index.store import SUBSTANCE_MIN_SCORE, SearchQuery
from index.synthetic import make_listing


def test_a_store_written_before_the_substances_column_is_upgraded_on_open(tmp_path: Path) -> None:
    path = tmp_path / "listings.sqlite"
    store = EmbeddedStore(path)
    store.ensure_schema()
    store.upsert([make_listing(i) for i in range(12)] + [make_listing(99, drug=False)])
    store.close()
    with sqlite3.connect(path) as db:  # the layout of a store from before the column existed
        db.execute("ALTER TABLE listings DROP COLUMN substances")

    reopened = EmbeddedStore(path)
    reopened.ensure_schema()
    try:
        facets = {b.value: b.count for b in reopened.search(SearchQuery(text="batch OR pure OR tested")).facets["substance"]}
        expected: dict[str, int] = {}
        for listing in reopened.scan(SearchQuery(text="batch OR pure OR tested")):
            for name, score in listing.classification.substances.items():  # type: ignore[union-attr]
                if score >= SUBSTANCE_MIN_SCORE:
                    expected[name] = expected.get(name, 0) + 1
        assert facets == expected and sum(facets.values()) > 0
        narrowed = reopened.search(SearchQuery(substance=["opioids"], facets=True))
        assert {b.value for b in narrowed.facets["substance"]} == {"opioids"}
    finally:
        reopened.close()
