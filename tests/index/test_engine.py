"""Engine-specific behaviour on the real OpenSearch node: layout (templates, write alias, dated
indices), the handshake, partial bulk failures and an engine that is down."""

from __future__ import annotations

import json
import uuid
from importlib.metadata import version

import httpx
import pytest

import index.backends.engine.store as engine
from dragnet.documents import Quantity
from dragnet.services.process import free_port
from dragnet.settings import DragnetSettings
from index.backends.engine import EngineStore
from index.backends.engine.client import check_es_client, compat_headers, detect_engine, es_client_class
from index.backends.engine.mappings import LISTING_PROPERTIES
from index.backends.engine.query import build_search_body
from index.factory import open_store
from index.store import SearchQuery, StoreError
from index.synthetic import make_listing

pytestmark = pytest.mark.integration


def _engine_settings(settings: DragnetSettings, url: str, backend: str = "auto", **search: object) -> DragnetSettings:
    return settings.model_copy(
        update={
            "search": settings.search.model_copy(
                update={"backend": backend, "url": url, "index_prefix": f"t{uuid.uuid4().hex[:10]}", **search}
            )
        }
    )


def test_auto_handshake_layout_and_mappings(settings: DragnetSettings, opensearch_node) -> None:
    store = open_store(_engine_settings(settings, opensearch_node.url))
    try:
        assert isinstance(store, EngineStore) and store.backend_name == "opensearch"
        store.ensure_schema()  # a second call is harmless
        prefix = store.settings.search.index_prefix
        aliases = httpx.get(f"{opensearch_node.url}/_alias/{prefix}-listings").json()
        ((index_name, info),) = aliases.items()
        assert (
            index_name.startswith(f"{prefix}-listings-20") and info["aliases"][f"{prefix}-listings"]["is_write_index"]
        )
        mapping = httpx.get(f"{opensearch_node.url}/{prefix}-listings/_mapping").json()[index_name]["mappings"][
            "properties"
        ]
        assert mapping["title"]["analyzer"] == "english" and mapping["title"]["fields"]["std"]["analyzer"] == "standard"
        assert mapping["title"]["fields"]["raw"]["type"] == "keyword"
        assert mapping["price"]["properties"]["usd"]["type"] == "double"
        assert mapping["classification"]["properties"]["is_drug_sale"]["type"] == "boolean"
        assert mapping["last_seen"]["type"] == "date"
        listing = make_listing(1)
        store.upsert([listing])
        store.refresh()
        assert httpx.get(f"{opensearch_node.url}/_alias/{prefix}-versions").status_code == 404  # nothing changed yet
        assert [v.title for v in store.history(listing.id)] == [listing.title]
        store.upsert([make_listing(1, title="changed title")])
        store.refresh()
        versions = httpx.get(f"{opensearch_node.url}/_alias/{prefix}-versions").json()
        assert list(versions) == [f"{prefix}-versions-{listing.crawled_at:%Y.%m}"]
    finally:
        store.drop()
        store.close()


def test_a_chunk_over_the_byte_cap_goes_as_several_requests_and_every_listing_is_written(
    settings: DragnetSettings, opensearch_node
) -> None:
    """Long listings: one chunk of 12 listings of ~20 kB each under a 64 kB cap per request is
    sent as several requests, none over the cap, and all are stored (first write and change)."""
    store = open_store(
        _engine_settings(
            settings, opensearch_node.url, backend="opensearch", bulk_max_bytes=64 * 1024, bulk_concurrency=1
        )
    )
    sizes: list[int] = []
    send = store.client.bulk

    def recording(body: bytes) -> dict:
        sizes.append(len(body))
        return send(body)

    store.client.bulk = recording  # type: ignore[method-assign]
    try:
        listings = [make_listing(i, text=f"listing {i} " + "long description " * 1200) for i in range(12)]
        result = store.upsert(listings)
        assert (result.written, result.failed) == (12, [])
        assert len(sizes) >= 4 and max(sizes) <= 64 * 1024
        sizes.clear()
        changed = [make_listing(i, text=f"changed {i} " + "new description " * 1200) for i in range(12)]
        assert store.upsert(changed).written == 12  # archive and current documents, both capped
        assert len(sizes) >= 8 and max(sizes) <= 64 * 1024
        store.refresh()
        assert store.count() == 12
        assert [len(store.history(listing.id)) for listing in listings] == [2] * 12
    finally:
        store.drop()
        store.close()


def test_an_index_made_before_the_intent_field_gets_it_on_open(settings: DragnetSettings, opensearch_node) -> None:
    """Indices are created once and live on; a field added to the mapping later (``dn.intent``,
    the folded copies) is put on them when a store opens, so the new facet, filter and folded
    search work on old indices too."""
    older = json.loads(json.dumps(LISTING_PROPERTIES))
    for name in ("intent", "title_folded", "text_folded"):
        del older["dn"]["properties"][name]
    for name in ("escrow", "payment", "category", "location", "offers", "attributes"):  # the market fields
        del older[name]
    for name in ("crypto_amount", "crypto_currency", "usd_rate", "rate_date"):
        del older["price"]["properties"][name]
    engine_settings = _engine_settings(settings, opensearch_node.url, backend="opensearch")
    prefix = engine_settings.search.index_prefix
    created = httpx.put(
        f"{opensearch_node.url}/{prefix}-listings-2025.01.01",
        json={
            "aliases": {f"{prefix}-listings": {"is_write_index": True}},
            "mappings": {"dynamic": False, "properties": older},
        },
    )
    assert created.status_code == 200, created.text
    store = open_store(engine_settings)
    try:
        store.upsert([make_listing(i) for i in range(10)])
        store.refresh()
        mapping = httpx.get(f"{opensearch_node.url}/{prefix}-listings-2025.01.01/_mapping").json()
        assert mapping[f"{prefix}-listings-2025.01.01"]["mappings"]["properties"]["dn"]["properties"]["intent"]
        put = mapping[f"{prefix}-listings-2025.01.01"]["mappings"]["properties"]
        assert put["category"]["type"] == "keyword" and put["location"]["properties"]["city"]["type"] == "keyword"
        assert put["price"]["properties"]["rate_date"]["type"] == "date" and put["offers"]["enabled"] is False
        facet = {b.value: b.count for b in store.search(SearchQuery(size=0)).facets["intent"]}
        assert facet.get("sell") == 8 and sum(facet.values()) == 10
        store.upsert([make_listing(50, title="trusted ＭＵＬＴＩＳＩＧ shop")])
        store.refresh()
        properties = httpx.get(f"{opensearch_node.url}/{prefix}-listings-2025.01.01/_mapping").json()
        assert properties[f"{prefix}-listings-2025.01.01"]["mappings"]["properties"]["dn"]["properties"]["title_folded"]
        assert [hit.listing.id for hit in store.search(SearchQuery(text="multisig")).hits] == [make_listing(50).id]
    finally:
        store.drop()
        store.close()


def test_bulk_partial_failure_is_reported_per_document(settings: DragnetSettings, opensearch_node) -> None:
    store = open_store(_engine_settings(settings, opensearch_node.url, backend="opensearch"))
    try:
        good = [make_listing(i) for i in range(5)]
        # a document the engine refuses (a quantity no float field can hold), built without
        # validation: the document model itself refuses such a number since it bounds amounts
        bad = make_listing(99).model_copy(update={"quantity": Quantity.model_construct(value=1e300, unit="g")})
        too_long = make_listing(98).model_copy(update={"id": "x" * 600})  # refused before sending
        result = store.upsert(good[:2] + [bad, too_long] + good[2:])
        assert sorted(listing_id for listing_id, _ in result.failed) == sorted([bad.id, too_long.id])
        reasons = dict(result.failed)
        assert "mapper_parsing_exception" in reasons[bad.id] and "too long" in reasons[too_long.id]
        store.refresh()
        assert store.count() == 5
    finally:
        store.drop()
        store.close()


def test_engine_down_is_a_retryable_store_error(settings: DragnetSettings) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(StoreError) as info:
        open_store(_engine_settings(settings, url))  # handshake
    assert info.value.retryable
    store = EngineStore.from_settings(_engine_settings(settings, url, backend="opensearch", max_retries=1))
    with pytest.raises(StoreError) as info:
        store.upsert([make_listing(1)])
    assert info.value.retryable
    with pytest.raises(StoreError) as info:
        store.search(SearchQuery(text="x"))
    assert info.value.retryable


def test_user_text_never_reaches_the_engine_verbatim() -> None:
    body = build_search_body(SearchQuery(text='title:oxy* OR {"script": 1} _exists_:x'))
    free, title = (clause["simple_query_string"] for clause in body["query"]["bool"]["must"])
    # ``title:`` is Dragnet's own field syntax (index.fields): its word goes to a titles-only
    # clause; everything else is plain words for the safe parser
    assert free["query"] == "script 1 exists x"
    assert title["query"] == "oxy*" and all(f.startswith(("title", "dn.title")) for f in title["fields"])
    assert "_exists_" not in str(body) and "title:" not in str(body)


def test_bulk_load_restores_near_real_time_settings(settings: DragnetSettings, opensearch_node) -> None:
    store = open_store(_engine_settings(settings, opensearch_node.url, backend="opensearch"))
    try:
        prefix = store.settings.search.index_prefix
        with store.bulk_load():
            inside = httpx.get(f"{opensearch_node.url}/{prefix}-listings/_settings").json()
            store.upsert([make_listing(i) for i in range(20)])
        (index_settings,) = inside.values()
        assert index_settings["settings"]["index"]["refresh_interval"] == "-1"
        after = next(iter(httpx.get(f"{opensearch_node.url}/{prefix}-listings/_settings").json().values()))
        assert after["settings"]["index"]["refresh_interval"] == "1s"
        assert after["settings"]["index"]["translog"]["durability"] == "request"
        assert store.count() == 20  # searchable as soon as the block ends
    finally:
        store.drop()
        store.close()


def test_elasticsearch_client_asks_an_older_server_for_its_own_rest_version() -> None:
    client_major = int(version("elasticsearch").split(".")[0])
    assert check_es_client(client_major) is None  # same major: the client's own headers
    assert check_es_client(client_major + 1) is None  # a newer server accepts an older client's
    assert check_es_client(client_major - 1) == client_major - 1  # one older: its own version
    assert es_client_class(client_major - 1) is not es_client_class(client_major)
    with pytest.raises(StoreError, match="install 'elasticsearch"):
        check_es_client(client_major - 2)  # wider gaps are refused plainly


def test_compat_headers_name_the_server_version_only_on_json_mimetypes() -> None:
    headers = {"accept": "application/json", "content-type": "application/x-ndjson", "x-opaque-id": "application/json"}
    assert compat_headers(headers, 8) == {
        "accept": "application/vnd.elasticsearch+json; compatible-with=8",
        "content-type": "application/vnd.elasticsearch+x-ndjson; compatible-with=8",
        "x-opaque-id": "application/json",
    }
    assert compat_headers(None, 8) == {}


def test_store_on_the_elasticsearch_node_speaks_its_rest_version(settings: DragnetSettings, es_url: str) -> None:
    """The handshake on a real Elasticsearch: flavour, major, and requests it accepts (an
    elasticsearch-py newer than the server asks for the server's own REST version)."""
    info = httpx.get(es_url).json()
    assert httpx.get(es_url).headers["x-elastic-product"] == "Elasticsearch"
    major = int(info["version"]["number"].split(".")[0])
    assert detect_engine(es_url, settings) == ("elasticsearch", major)
    for backend in ("auto", "elasticsearch"):  # detected, or named in the settings
        store = open_store(_engine_settings(settings, es_url, backend=backend))
        try:
            assert isinstance(store, EngineStore) and store.backend_name == "elasticsearch"
            store.upsert([make_listing(1)])
            store.refresh()
            assert store.count() == 1
        finally:
            store.drop()
            store.close()


def test_reverted_content_keeps_version_count_equal_to_history(settings: DragnetSettings, opensearch_node) -> None:
    """A -> B -> A: the third write's version create answers 409 (content seen before), so the
    predicted version is corrected and the current document agrees with its history."""
    store = open_store(_engine_settings(settings, opensearch_node.url, backend="opensearch"))
    try:
        a = make_listing(7, title="pressed pills A", days=1)
        b = make_listing(7, title="pressed pills B", days=3)
        a_again = make_listing(7, title="pressed pills A", days=5)
        for listing in (a, b, a_again):
            store.upsert([listing])
        store.refresh()
        current = store.get(a.id)
        assert current is not None and current.title == "pressed pills A"
        assert current.version == len(store.history(a.id)) == 2
    finally:
        store.drop()
        store.close()


def test_parallel_parts_keep_arrival_order_per_listing(settings: DragnetSettings, opensearch_node) -> None:
    """Many chunks sent side by side: every version of one listing lands in the same part, in
    arrival order, so the newest crawl wins and every version is counted once."""
    store = open_store(
        _engine_settings(settings, opensearch_node.url, backend="opensearch", bulk_chunk_size=3, bulk_concurrency=3)
    )
    try:
        batch = []
        for step in range(4):
            batch += [make_listing(i, title=f"listing {i} edit {step}", days=step) for i in range(6)]
        result = store.upsert(batch)
        assert (result.written, result.failed) == (24, [])
        store.refresh()
        for i in range(6):
            current = store.get(make_listing(i).id)
            assert current is not None and current.title == f"listing {i} edit 3"
            assert current.version == 4 == len(store.history(current.id))
    finally:
        store.drop()
        store.close()


def test_bulk_load_creates_new_version_months_with_load_settings(settings: DragnetSettings, opensearch_node) -> None:
    store = open_store(_engine_settings(settings, opensearch_node.url, backend="opensearch"))
    try:
        prefix = store.settings.search.index_prefix
        with store.bulk_load():
            store.upsert([make_listing(1, days=0), make_listing(2, days=45)])
            # both change: their versions go to two months, neither exists yet
            store.upsert([make_listing(1, days=0, title="edited"), make_listing(2, days=45, title="edited")])
            inside = httpx.get(f"{opensearch_node.url}/{prefix}-versions-*/_settings").json()
        assert len(inside) == 2
        assert {v["settings"]["index"]["refresh_interval"] for v in inside.values()} == {"-1"}
        after = httpx.get(f"{opensearch_node.url}/{prefix}-versions-*/_settings").json()
        assert {v["settings"]["index"]["translog"]["durability"] for v in after.values()} == {"request"}
        assert [v.title for v in store.history(make_listing(2).id)] == [make_listing(2).title, "edited"]
    finally:
        store.drop()
        store.close()


def test_content_is_archived_before_it_is_replaced(settings: DragnetSettings, opensearch_node) -> None:
    """Copy-on-change history: a new listing is one current document; when the versions index
    refuses the archive of a change, the current document keeps the old content and the listing
    is reported failed, so the retry archives it and nothing is ever lost from history."""
    store = open_store(_engine_settings(settings, opensearch_node.url, backend="opensearch"))
    try:
        prefix = store.settings.search.index_prefix
        first = make_listing(3, title="first title")
        assert store.upsert([first]).written == 1
        store.upsert([make_listing(4, title="other")])
        store.upsert([make_listing(4, title="other, edited")])  # creates this month's versions index
        store.refresh()
        blocked = f"{prefix}-versions-{first.crawled_at:%Y.%m}"
        httpx.put(f"{opensearch_node.url}/{blocked}/_settings", json={"index.blocks.write": True}).raise_for_status()
        edited = make_listing(3, title="second title", days=10)
        refused = store.upsert([edited])
        assert [listing_id for listing_id, _ in refused.failed] == [first.id] and refused.written == 0
        store.refresh()
        assert store.get(first.id).title == "first title"  # not overwritten before it is archived
        httpx.put(f"{opensearch_node.url}/{blocked}/_settings", json={"index.blocks.write": False}).raise_for_status()
        retried = store.upsert([edited])
        assert (retried.written, retried.failed) == (1, [])
        store.refresh()
        current = store.get(first.id)
        assert current is not None and current.title == "second title"
        assert [v.title for v in store.history(first.id)] == ["first title", "second title"]
        assert current.version == 2
    finally:
        store.drop()
        store.close()


def test_a_writer_that_expects_new_listings_still_merges_with_stored_ones(
    settings: DragnetSettings, opensearch_node
) -> None:
    """Create-first: a fresh store assumes new listings and writes them with op_type=create.
    A listing another writer stored already answers 409 and goes through the merge, so its
    content is archived, not overwritten."""
    engine_settings = _engine_settings(settings, opensearch_node.url, backend="opensearch")
    first_writer, second_writer = open_store(engine_settings), open_store(engine_settings)
    try:
        old = make_listing(5, title="first writer's title", days=1)
        assert first_writer.upsert([old]).written == 1
        new = make_listing(5, title="second writer's title", days=4)
        result = second_writer.upsert([new, make_listing(6)])
        assert (result.written, result.failed) == (2, [])
        second_writer.refresh()
        current = second_writer.get(old.id)
        assert current is not None and current.title == "second writer's title" and current.version == 2
        assert [v.title for v in second_writer.history(old.id)] == ["first writer's title", "second writer's title"]
        assert current.first_seen == old.crawled_at  # first seen by the first writer
    finally:
        first_writer.drop()
        first_writer.close()
        second_writer.close()


@pytest.mark.parametrize("create_first", [True, False], ids=["create-first", "mget-first"])
def test_both_write_paths_give_the_same_documents(
    settings: DragnetSettings, opensearch_node, create_first: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A chunk mixing stored listings (changed and unchanged), new ones and a listing arriving
    twice ends the same whichever path the store picks."""

    store = open_store(_engine_settings(settings, opensearch_node.url, backend="opensearch"))
    try:
        store.upsert([make_listing(i) for i in range(4)])
        monkeypatch.setattr(engine, "_CREATE_FIRST_SHARE", 0.0 if create_first else 2.0)
        chunk = [
            make_listing(0),
            make_listing(1, title="edited", days=9),
            make_listing(10),
            make_listing(11, title="eleven A", days=1),
            make_listing(11, title="eleven B", days=2),
        ]
        result = store.upsert(chunk)
        assert (result.written, result.unchanged, result.failed) == (4, 1, [])
        store.refresh()
        got = {i: store.get(make_listing(i).id) for i in (0, 1, 10, 11)}
        assert {i: (doc.title, doc.version) for i, doc in got.items() if doc} == {
            0: (make_listing(0).title, 1),
            1: ("edited", 2),
            10: (make_listing(10).title, 1),
            11: ("eleven B", 2),
        }
        assert [v.title for v in store.history(make_listing(11).id)] == ["eleven A", "eleven B"]
        assert store.count() == 6
    finally:
        store.drop()
        store.close()


def _race_on_mget(store: EngineStore, other: EngineStore, changes: list) -> None:
    """Make ``other`` write the next of ``changes`` right after each of ``store``'s reads."""
    real_mget = store.client.mget

    def mget_then_other_writer(index: str, ids: list[str]) -> list:
        docs = real_mget(index, ids)
        if changes:
            assert other.upsert([changes.pop(0)]).failed == []
        return docs

    store.client.mget = mget_then_other_writer  # type: ignore[method-assign]


def test_a_listing_changed_by_another_writer_during_the_merge_is_merged_again(
    settings: DragnetSettings, opensearch_node
) -> None:
    """Two indexers merge the same listing: the one whose read went stale gets a 409 on its
    conditional write and merges again, so neither update is lost and the version count
    includes the content it had archived before the conflict."""
    engine_settings = _engine_settings(settings, opensearch_node.url, backend="opensearch")
    first, second = open_store(engine_settings), open_store(engine_settings)
    try:
        assert first.upsert([make_listing(8, title="A", days=1)]).written == 1
        _race_on_mget(first, second, [make_listing(8, title="B", days=3)])
        result = first.upsert([make_listing(8, title="C", days=5)])
        assert (result.written, result.unchanged, result.failed) == (1, 0, [])
        first.refresh()
        current = first.get(make_listing(8).id)
        assert current is not None and current.title == "C"
        assert [v.title for v in first.history(current.id)] == ["A", "B", "C"]
        assert current.version == 3
    finally:
        first.drop()
        first.close()
        second.close()


def test_a_listing_that_keeps_changing_under_the_merge_is_a_retryable_error(
    settings: DragnetSettings, opensearch_node
) -> None:
    engine_settings = _engine_settings(settings, opensearch_node.url, backend="opensearch")
    first, second = open_store(engine_settings), open_store(engine_settings)
    try:
        assert first.upsert([make_listing(9, title="v0", days=1)]).written == 1
        changes = [make_listing(9, title=f"v{n}", days=1 + n) for n in range(1, 20)]
        _race_on_mget(first, second, changes)
        with pytest.raises(StoreError, match="kept changing") as raised:
            first.upsert([make_listing(9, title="mine", days=30)])
        assert raised.value.retryable
        changes.clear()  # the race is over: the reads below see a settled listing
        first.refresh()
        current = first.get(make_listing(9).id)
        assert current is not None and current.title == "v5"  # one other write per attempt
        # "mine" was archived before the first conflict: it is in the history, not yet current
        assert sorted(v.title for v in first.history(current.id)) == ["mine"] + [f"v{n}" for n in range(6)]
        assert current.version == 6
        retried = first.upsert([make_listing(9, title="mine", days=30)])  # the worker's retry
        assert (retried.written, retried.failed) == (1, [])
        first.refresh()
        current = first.get(current.id)
        assert current is not None and current.title == "mine"
        assert current.version == 7 == len(first.history(current.id))
    finally:
        first.drop()
        first.close()
        second.close()
