"""Embedded-backend specifics: a store file written by an older Dragnet opens and searches."""

from __future__ import annotations

import json
import sqlite3
import threading
from datetime import date
from pathlib import Path

import index.backends.embedded as embedded
from dragnet.documents import Location, Offer, Price
from index.backends.embedded import EmbeddedStore
from index.store import SUBSTANCE_MIN_SCORE, SearchQuery
from index.synthetic import make_listing


def test_a_store_written_before_the_facet_column_and_prefix_indices_is_upgraded_on_open(tmp_path: Path) -> None:
    path = tmp_path / "listings.sqlite"
    store = EmbeddedStore(path)
    store.ensure_schema()
    store.upsert([make_listing(i) for i in range(12)] + [make_listing(99, drug=False)])
    store.close()
    with sqlite3.connect(path) as db:  # the layout of a store from before the column and prefix indices
        db.execute("DROP INDEX listings_search")
        db.execute("ALTER TABLE listings DROP COLUMN facet_key")
        db.execute(
            "CREATE VIRTUAL TABLE old_fts USING fts5(title, text, tokenize = 'porter unicode61 remove_diacritics 2')"
        )
        db.execute("INSERT INTO old_fts(rowid, title, text) SELECT rowid, title, text FROM listings_fts")
        db.execute("DROP TABLE listings_fts")
        db.execute("ALTER TABLE old_fts RENAME TO listings_fts")
        db.execute("PRAGMA user_version = 0")  # stores of that time were written before schema versions

    reopened = EmbeddedStore(path)
    reopened.ensure_schema()
    try:
        facets = {
            b.value: b.count for b in reopened.search(SearchQuery(text="batch OR pure OR tested")).facets["substance"]
        }
        expected: dict[str, int] = {}
        for listing in reopened.scan(SearchQuery(text="batch OR pure OR tested")):
            for name, score in listing.classification.substances.items():  # type: ignore[union-attr]
                if score >= SUBSTANCE_MIN_SCORE:
                    expected[name] = expected.get(name, 0) + 1
        assert facets == expected and sum(facets.values()) > 0
        narrowed = reopened.search(SearchQuery(substance=["opioids"], facets=True))
        assert {b.value for b in narrowed.facets["substance"]} == {"opioids"}
        prefixed = reopened.search(SearchQuery(text="pres*"))  # through the rebuilt full-text index
        assert (
            prefixed.total == sum(1 for i in range(12) if i % 6 == 0)
            and "prefix"
            in reopened._db.execute("SELECT sql FROM sqlite_master WHERE name = 'listings_fts'").fetchone()[0]
        )
        assert all("<mark>" in hit.highlights["title"][0] for hit in prefixed.hits)
    finally:
        reopened.close()


def test_two_writers_of_one_listing_merge_one_after_the_other(tmp_path: Path, monkeypatch) -> None:
    """Writer 1 has read the stored listing when writer 2 (another thread, another connection)
    writes a newer crawl of it: writer 2 must wait for writer 1's transaction and merge on top,
    not be overwritten by a merge made from writer 1's stale read."""

    path = tmp_path / "listings.sqlite"
    first, second = EmbeddedStore(path), EmbeddedStore(path)
    first.ensure_schema()
    first.upsert([make_listing(3, title="A", days=1)])
    newer = make_listing(3, title="B", days=5)
    other = threading.Thread(target=lambda: second.upsert([newer]))
    real_merge = embedded.merge_with_existing
    started: list[bool] = []

    def merge_while_the_other_writer_runs(new, old):  # called right after writer 1's read
        if not started:
            started.append(True)
            other.start()
            other.join(timeout=1.0)  # writer 2 finishes now unless it waits for writer 1's lock
        return real_merge(new, old)

    monkeypatch.setattr(embedded, "merge_with_existing", merge_while_the_other_writer_runs)
    try:
        first.upsert([make_listing(3, title="C", days=3)])
        other.join(timeout=30)
        current = first.get(newer.id)
        assert current is not None and current.title == "B" and current.last_seen == newer.last_seen
        assert sorted(v.title for v in first.history(newer.id)) == ["A", "B", "C"] and current.version == 3
    finally:
        first.close()
        second.close()


def test_a_store_written_before_search_folding_gets_the_folded_columns_on_open(tmp_path: Path) -> None:
    """Schema step 3: a version-2 store (full-text index of title and text only) is rebuilt once
    with the folded copies computed from its stored text, so listings written before folding
    existed are found by the plain word too."""
    path = tmp_path / "listings.sqlite"
    store = EmbeddedStore(path)
    store.ensure_schema()
    evasive = make_listing(1, title="trusted ＭＵＬＴＩＳＩＧ shop", text="ships multi\u200bsig only")
    plain = make_listing(2, title="multisig shop", text="plain")
    store.upsert([evasive, plain] + [make_listing(i) for i in range(3, 9)])
    store.close()
    with sqlite3.connect(path) as db:  # the layout of a version-2 store
        db.execute(f"CREATE VIRTUAL TABLE old_fts USING fts5({embedded._FTS_COLUMNS_V1})")
        db.execute("INSERT INTO old_fts(rowid, title, text) SELECT rowid, title, text FROM listings_fts")
        db.execute("DROP TABLE listings_fts")
        db.execute("ALTER TABLE old_fts RENAME TO listings_fts")
        db.execute("PRAGMA user_version = 2")
    old = EmbeddedStore(path)  # not upgraded yet (no ensure_schema): it misses the evasive listing
    assert old.search(SearchQuery(text="multisig")).total == 1
    old.close()

    reopened = EmbeddedStore(path)
    reopened.ensure_schema()
    try:
        assert reopened._db.execute("PRAGMA user_version").fetchone()[0] == 4
        assert reopened.search(SearchQuery(text="multisig")).total == 2
        (hit,) = reopened.search(SearchQuery(text="multisig only")).hits
        assert hit.listing.id == evasive.id and hit.listing.text == "ships multi\u200bsig only"
        assert reopened.count() == 8 and reopened.search(SearchQuery(text="pres*")).total > 0
        reopened.ensure_schema()  # nothing left to do
        assert reopened.search(SearchQuery(text="ＭＵＬＴＩＳＩＧ")).total == 2
    finally:
        reopened.close()


def test_a_store_written_before_entities_gets_their_keys_and_words_on_open(tmp_path: Path) -> None:
    """Schema step 4: a version-3 store (no entity keys, full-text index without the entities
    column) gets both, computed from its stored listings, so ``pgp:`` and a vendor's name in
    free text find listings written before entities existed."""
    path = tmp_path / "listings.sqlite"
    store = EmbeddedStore(path)
    store.ensure_schema()
    fpr = "ABCD" * 10
    store.upsert([make_listing(1, vendor="Green Lion", pgp=fpr)] + [make_listing(i) for i in range(2, 6)])
    store.close()
    with sqlite3.connect(path) as db:  # the layout of a version-3 store
        db.execute(f"CREATE VIRTUAL TABLE old_fts USING fts5({embedded._FTS_COLUMNS_V3})")
        db.execute(
            "INSERT INTO old_fts(rowid, title, text, title_folded, text_folded) "
            "SELECT rowid, title, text, title_folded, text_folded FROM listings_fts"
        )
        db.execute("DROP TABLE listings_fts")
        db.execute("ALTER TABLE old_fts RENAME TO listings_fts")
        db.execute("DELETE FROM listing_terms WHERE field = 'entities'")
        db.execute("PRAGMA user_version = 3")
    reopened = EmbeddedStore(path)
    reopened.ensure_schema()
    try:
        assert reopened._db.execute("PRAGMA user_version").fetchone()[0] == 4
        assert reopened.search(SearchQuery(text=f"pgp:{fpr.lower()}")).total == 1
        assert reopened.search(SearchQuery(text="green lion")).total == 1
        assert reopened.search(SearchQuery(text="market:alpha")).total == reopened.count(SearchQuery(market=["alpha"]))
    finally:
        reopened.close()


def test_what_markets_show_round_trips_through_the_store(tmp_path: Path) -> None:
    """The market fields (escrow, payment, tiers, category, location, attributes, the dated USD
    rate) live in the stored JSON: written and read back unchanged, current and in history; a
    document stored before they existed still reads, with their defaults."""
    day = date(2026, 11, 1)
    listing = make_listing(
        7,
        escrow="multisig",
        payment=["BTC", "XMR"],
        offers=[
            Offer(
                quantity=0.5,
                unit="g",
                price=Price(amount=1500, currency="RUB", usd=16.5, usd_rate=0.011, rate_date=day),
            )
        ],
        category="Cannabis",
        location=Location(city="Moscow", district="Tverskoy", drop_type="magnet"),
        attributes={"purity": "92%", "strain": ["Sativa", "Indica"]},
    ).model_copy(
        update={
            "price": Price(
                amount=12.0,
                currency="EUR",
                usd=12.96,
                crypto_amount=0.081,
                crypto_currency="XMR",
                usd_rate=1.08,
                rate_date=day,
            )
        }
    )
    old = make_listing(8)
    store = EmbeddedStore(tmp_path / "listings.sqlite")
    store.ensure_schema()
    try:
        store.upsert([listing, old])
        got = store.get(listing.id)
        assert got is not None
        shown = ("price", "escrow", "payment", "offers", "category", "location", "attributes")
        assert {name: getattr(got, name) for name in shown} == {name: getattr(listing, name) for name in shown}
        assert store.history(listing.id)[0].offers == listing.offers
        with sqlite3.connect(tmp_path / "listings.sqlite") as db:  # as a Dragnet before these fields wrote it
            body = json.loads(db.execute("SELECT body FROM listings WHERE id = ?", (old.id,)).fetchone()[0])
            for name in ("escrow", "payment", "offers", "category", "location", "attributes"):
                del body[name]
            if body.get("price"):
                del body["price"]["usd_rate"], body["price"]["rate_date"]
            db.execute("UPDATE listings SET body = ? WHERE id = ?", (json.dumps(body), old.id))
        before = store.get(old.id)
        assert before is not None
        assert (before.escrow, before.payment, before.offers, before.attributes) == (None, [], [], {})
    finally:
        store.close()
