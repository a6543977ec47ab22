"""``dragnet bench index``: bulk indexing throughput and search latency, every backend.

For each backend (embedded SQLite FTS5, then a real OpenSearch node and a real Elasticsearch
node started here, one after the other, each with the same heap and GC) it writes N
synthetic listings through ``ListingStore.upsert`` (the full path: merge with the current
document, version history, derived fields) and then runs a fixed mix of analyst searches
(full text with highlights and facets, filters, sorts, a deep ``search_after`` page) and
reports p50/p95 latency.  The named baseline, measured in the same run on each engine, is a raw
``_bulk`` of the same documents into one plain index (no history, no merge): the engine's own
ceiling on this machine, so the ratio shows what the store's guarantees cost.
"""

from __future__ import annotations

import json
import tempfile
import time
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
from rich.console import Console
from rich.table import Table

from dragnet.documents import Contact
from dragnet.services.elasticsearch_node import ElasticsearchNode
from dragnet.services.opensearch_node import OpenSearchNode
from dragnet.settings import get_settings, load_settings
from index.backends.engine.client import detect_engine, es_client_class
from index.factory import open_store
from index.store import SearchQuery
from index.synthetic import BASE_TIME, make_listing

DOCS = 100_000
STEADY_DOCS = 10_000  # written first with the default (near-real-time, durable) settings
# the engine's JIT compiles the indexing path (mappers, analyzers, merges) over its first tens of
# thousands of documents; a scratch load of this many comes first so the figures are those of a
# running engine, not of its start-up (the scratch index is dropped before anything is measured)
WARMUP_DOCS = 30_000
BATCH = 1_000
SEARCH_ROUNDS = 3


def bench_fingerprint(seller: int) -> str:
    """The invented PGP fingerprint of bench seller ``seller`` (40 hex digits)."""
    return f"{seller:040X}"


def _listing(i: int) -> Any:
    """Listing ``i``; one in ten carries a seller's PGP key and Telegram handle (97 sellers), so
    the entity lookups (``pgp:``, ``contact:``) hit a realistic few hundred listings each."""
    if i % 10:
        return make_listing(i)
    seller = i % 97
    return make_listing(
        i, pgp=bench_fingerprint(seller), contacts=[Contact(kind="telegram", handle=f"@bench_seller_{seller}")]
    )


def _listings(n: int, first: int = 0) -> list[Any]:
    return [_listing(i) for i in range(first, first + n)]


def _queries() -> list[Any]:
    return [
        SearchQuery(text="oxycodone"),
        SearchQuery(text="stealth shipping"),
        SearchQuery(text='"pressed oxycodone" -kush'),
        SearchQuery(text="cocaine OR ketamine", market=["bravo"]),
        SearchQuery(text="tes*", sort="newest"),
        SearchQuery(market=["charlie"], substance=["cannabis"], sort="price_asc"),
        SearchQuery(is_drug_sale=True, min_score=0.8, sort="score_desc"),
        SearchQuery(price_usd_min=100, price_usd_max=500, ships_from=["NL", "DE"]),
        SearchQuery(seen_from=BASE_TIME + timedelta(days=10), seen_to=BASE_TIME + timedelta(days=20), text="pure"),
        SearchQuery(vendor=["vendor3"], sort="oldest", size=50),
        *_entity_queries(),
    ]


def _entity_queries() -> list[Any]:
    """Entity lookups through the field syntax and in free text (index.fields)."""
    return [
        SearchQuery(text=f"pgp:{bench_fingerprint(3)}"),
        SearchQuery(text=f'pgp:"{" ".join(bench_fingerprint(5)[i : i + 4] for i in range(0, 40, 4))}" stealth'),
        SearchQuery(text="contact:telegram:@bench_seller_7", sort="newest"),
        SearchQuery(text="contact:@bench_seller_11 market:alpha"),
        SearchQuery(text="bench_seller_13"),
    ]


def _percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(pct / 100 * (len(ordered) - 1))))
    return ordered[index]


def _load(store: Any, listings: list[Any]) -> None:
    for offset in range(0, len(listings), BATCH):
        result = store.upsert(listings[offset : offset + BATCH])
        if result.failed:
            raise RuntimeError(f"bulk failures: {result.failed[:3]}")


def _engine_counters(url: str) -> dict[str, int]:
    """The node's cumulative merge, flush, refresh and garbage-collection times (ms): read
    before and after the bulk load, they say where a slow run spent its time."""

    (node,) = httpx.get(f"{url}/_nodes/_local/stats/indices,jvm", timeout=30).json()["nodes"].values()
    indices, gc = node["indices"], node["jvm"]["gc"]["collectors"]
    return {
        "merge_ms": indices["merges"]["total_time_in_millis"],
        "flush_ms": indices["flush"]["total_time_in_millis"],
        "refresh_ms": indices["refresh"]["total_time_in_millis"],
        "gc_ms": sum(collector["collection_time_in_millis"] for collector in gc.values()),
    }


def _measure_store(store: Any, listings: list[Any], steady: int, engine_url: str | None = None) -> dict[str, Any]:
    # steady ingestion first (default settings: refresh every second, durable per request) ...
    start = time.perf_counter()
    _load(store, listings[:steady])
    store.refresh()
    steady_rate = steady / (time.perf_counter() - start)
    # ... then the rest as a bulk load (what a backfill or re-index uses)
    before = _engine_counters(engine_url) if engine_url else {}
    start = time.perf_counter()
    with store.bulk_load():
        _load(store, listings[steady:])
    elapsed = time.perf_counter() - start
    during = (
        {name: value - before[name] for name, value in _engine_counters(engine_url).items()} if engine_url else None
    )
    count = store.count()
    latencies: list[float] = []
    queries = _queries()
    store.search(queries[0])  # warm caches once
    for _ in range(SEARCH_ROUNDS):
        for query in queries:
            t0 = time.perf_counter()
            store.search(query)
            latencies.append((time.perf_counter() - t0) * 1000)
    # a deep page: follow search_after 20 pages down
    t0 = time.perf_counter()
    after = None
    for _ in range(20):
        page = store.search(SearchQuery(sort="newest", size=50, search_after=after, facets=False))
        after = page.next_search_after
    deep_ms = (time.perf_counter() - t0) * 1000 / 20
    entity: list[float] = []  # the entity lookups alone (they are in the mix above too)
    for _ in range(SEARCH_ROUNDS):
        for query in _entity_queries():
            t0 = time.perf_counter()
            store.search(query)
            entity.append((time.perf_counter() - t0) * 1000)
    figures = {
        "docs": count,
        "steady_docs": steady,
        "steady_docs_per_s": round(steady_rate),
        "bulk_docs": len(listings) - steady,
        "bulk_seconds": round(elapsed, 2),
        "bulk_docs_per_s": round((len(listings) - steady) / elapsed),
        "search_ms_p50": round(_percentile(latencies, 50), 2),
        "search_ms_p95": round(_percentile(latencies, 95), 2),
        "search_queries": len(latencies),
        "search_after_page_ms": round(deep_ms, 2),
        "entity_search_ms_p50": round(_percentile(entity, 50), 2),
        "entity_search_ms_p95": round(_percentile(entity, 95), 2),
    }
    if during is not None:
        figures["engine_ms_during_bulk"] = during
    return figures


def _warm_up(store: Any, docs: int) -> float:
    """Load ``docs`` scratch listings (numbered after the measured ones) and drop them."""
    start = time.perf_counter()
    store.ensure_schema()
    with store.bulk_load():
        _load(store, _listings(docs, first=10_000_000))
    store.drop()
    return round(time.perf_counter() - start, 2)


def _raw_bulk_baseline(engine: str, url: str, listings: list[Any]) -> dict[str, Any]:
    """Plain ``_bulk`` index ops of the same documents into one index with default mappings and
    the same bulk-load settings (no refresh, async translog), through the engine's own client."""
    index = f"bench-raw-{uuid.uuid4().hex[:8]}"
    settings = {
        "number_of_shards": 1,
        "number_of_replicas": 0,
        "refresh_interval": "-1",
        "translog.durability": "async",
    }
    client: Any
    if engine == "opensearch":
        # an engine's client: loaded only for that engine
        from opensearchpy import OpenSearch

        client = OpenSearch(hosts=[url], timeout=120)
        client.indices.create(index=index, body={"settings": settings})
    else:
        client = es_client_class(detect_engine(url, get_settings())[1])(url, request_timeout=120)
        client.indices.create(index=index, settings=settings)
    start = time.perf_counter()
    for offset in range(0, len(listings), BATCH):
        ops: list[dict[str, Any]] = []
        for listing in listings[offset : offset + BATCH]:
            ops.append({"index": {"_index": index, "_id": listing.id}})
            ops.append(listing.model_dump(mode="json"))
        if engine == "opensearch":
            client.bulk(body=ops)
        else:
            client.bulk(operations=ops)
    client.indices.refresh(index=index)
    elapsed = time.perf_counter() - start
    client.indices.delete(index=index)
    client.close()
    return {"bulk_seconds": round(elapsed, 2), "bulk_docs_per_s": round(len(listings) / elapsed)}


ENGINES = ("opensearch", "elasticsearch")
# the engines' JVMs for a bulk-loading benchmark on 2 cores: parallel GC (see OpenSearchNode)
ENGINE_JVM = {"heap": "2g", "gc": "parallel"}


def _measure_engine(engine: str, tmp: Path, listings: list[Any], steady: int, warmup: int) -> dict[str, Any]:
    """One engine's figures: its own node, a warm-up, the raw baseline, then the store."""
    base = get_settings()
    node_class = OpenSearchNode if engine == "opensearch" else ElasticsearchNode
    figures: dict[str, Any] = {f"{engine}_node": dict(ENGINE_JVM)}
    with node_class(heap=ENGINE_JVM["heap"], gc=ENGINE_JVM["gc"]) as node:
        engine_settings = load_settings(
            paths={"data_dir": tmp, "cache_dir": base.paths.cache_dir},
            search={"backend": "auto", "url": node.url, "index_prefix": "bench"},
        )
        warm_settings = engine_settings.model_copy(
            update={"search": engine_settings.search.model_copy(update={"index_prefix": "bench-warmup"})}
        )
        with open_store(warm_settings) as store:
            figures[f"{engine}_warmup"] = {"docs": warmup, "seconds": _warm_up(store, warmup)}
        figures[f"baseline_raw_bulk_{engine}"] = _raw_bulk_baseline(engine, node.url, listings)
        with open_store(engine_settings) as store:
            figures[engine] = _measure_store(store, listings, steady, node.url)
            figures[engine]["engine"] = store.backend_name
    return figures


def run(docs: int = DOCS, engines: tuple[str, ...] = ENGINES) -> dict[str, Any]:
    base = get_settings()
    listings = _listings(docs)
    steady = min(STEADY_DOCS, docs // 5)
    warmup = min(WARMUP_DOCS, docs)
    figures: dict[str, Any] = {"benchmark": "index", "documents": docs, "batch": BATCH}
    with tempfile.TemporaryDirectory(prefix="dragnet-bench-index-") as tmp:
        embedded_settings = load_settings(
            paths={"data_dir": Path(tmp), "cache_dir": base.paths.cache_dir}, search={"backend": "embedded"}
        )
        with open_store(embedded_settings) as store:
            figures["embedded"] = _measure_store(store, listings, steady)
        for engine in engines:  # one node at a time: the engines never share the 2 cores
            figures.update(_measure_engine(engine, Path(tmp) / engine, listings, steady, warmup))
    figures["engines"] = list(engines)
    figures["ratios"] = {}
    for engine in engines:
        raw = figures[f"baseline_raw_bulk_{engine}"]["bulk_docs_per_s"]
        figures["ratios"].update(
            {
                f"{engine}_store_vs_raw_bulk": round(figures[engine]["bulk_docs_per_s"] / raw, 3),
                f"embedded_vs_{engine}_bulk": round(
                    figures["embedded"]["bulk_docs_per_s"] / figures[engine]["bulk_docs_per_s"], 3
                ),
                f"embedded_vs_{engine}_search_p50": round(
                    figures["embedded"]["search_ms_p50"] / figures[engine]["search_ms_p50"], 3
                ),
                f"embedded_vs_{engine}_entity_search_p50": round(
                    figures["embedded"]["entity_search_ms_p50"] / figures[engine]["entity_search_ms_p50"], 3
                ),
            }
        )
    if set(ENGINES) <= set(engines):
        figures["ratios"]["elasticsearch_vs_opensearch_bulk"] = round(
            figures["elasticsearch"]["bulk_docs_per_s"] / figures["opensearch"]["bulk_docs_per_s"], 3
        )
        figures["ratios"]["elasticsearch_vs_opensearch_search_p50"] = round(
            figures["elasticsearch"]["search_ms_p50"] / figures["opensearch"]["search_ms_p50"], 3
        )
    figures["target_bulk_docs_per_s"] = 5000
    return figures


def main(json_output: bool = False, docs: int = DOCS, engines: tuple[str, ...] = ENGINES) -> dict[str, Any]:
    figures = run(docs, engines)
    if json_output:
        print(json.dumps(figures))
    else:
        table = Table(title=f"dragnet bench index: {figures['documents']:,} synthetic listings")
        for column in (
            "backend",
            "steady docs/s",
            "bulk-load docs/s",
            "bulk s",
            "search p50 ms",
            "search p95 ms",
            "search_after page ms",
            "entity p50 ms",
        ):
            table.add_column(column)
        for name in ("embedded", *figures["engines"]):
            f = figures[name]
            table.add_row(
                name,
                f"{f['steady_docs_per_s']:,}",
                f"{f['bulk_docs_per_s']:,}",
                str(f["bulk_seconds"]),
                str(f["search_ms_p50"]),
                str(f["search_ms_p95"]),
                str(f["search_after_page_ms"]),
                str(f["entity_search_ms_p50"]),
            )
        for engine in figures["engines"]:
            raw = figures[f"baseline_raw_bulk_{engine}"]
            table.add_row(
                f"baseline: raw _bulk, {engine}",
                "-",
                f"{raw['bulk_docs_per_s']:,}",
                str(raw["bulk_seconds"]),
                "-",
                "-",
                "-",
                "-",
            )
        Console().print(table)
        Console().print(f"ratios: {figures['ratios']}")
    return figures
