"""``dragnet demo``: the main job end to end on one machine with no external service.

It builds the default model if it is missing, starts the simulated onion markets, forum and
social timeline behind a SOCKS5 proxy (standing in for Tor), crawls them through that proxy with the
real spiders, classifies and indexes every listing in-process (the workers' embedded mode) into
the embedded store, and summarises what was found.  The store is the one ``dragnet serve``
reads, so the result stays searchable after the demo.
"""

from __future__ import annotations

import logging
import time
from dataclasses import asdict
from typing import Any

import uvicorn
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from api.app import create_app
from api.auth import KeyStore
from classifier.meta import RECIPE
from classifier.model_store import ensure_default_model, model_ready
from crawlers.runner import run_crawl
from crawlers.simsites import SimulatedWorld
from dragnet.settings import DragnetSettings, get_settings, use_settings
from index.factory import open_store
from index.store import SearchQuery
from workers.submit import EmbeddedOutcome, close_embedded_stores, process_in_process

log = logging.getLogger(__name__)

TOP_HITS = 5


def demo_settings(base: DragnetSettings | None = None) -> DragnetSettings:
    """The embedded default whatever the environment says: no broker, the embedded store."""
    base = base or get_settings()
    return base.model_copy(
        update={
            "redis": base.redis.model_copy(update={"url": None}),
            "search": base.search.model_copy(update={"backend": "embedded"}),
        }
    )


def _ensure_model(progress: bool) -> str:
    settings = get_settings()
    if progress and not model_ready(settings.model_dir, RECIPE):
        with Console(stderr=True).status(
            "building the default model (first run only, about 10-15 minutes on 2 cores) ..."
        ):
            return str(ensure_default_model())
    return str(ensure_default_model())


def _stat(stats: Any, *names: str) -> Any:
    for name in names:
        value = stats.get(name) if isinstance(stats, dict) else getattr(stats, name, None)
        if value is not None:
            return value
    return None


def run_demo(
    listings_per_market: int | None = None, progress: bool = True, settings: DragnetSettings | None = None
) -> dict[str, Any]:
    """Run the demo and return its summary (what ``--json`` prints)."""

    previous = get_settings()
    settings = demo_settings(settings or previous)
    use_settings(settings)
    started = time.monotonic()
    console = None
    if progress:
        console = Console(stderr=True)
    try:
        model_dir = _ensure_model(progress)
        outcome = EmbeddedOutcome()

        def sink(listings: list[Any]) -> None:
            outcome.add(process_in_process(list(listings), settings=settings))
            if console is not None:  # a log record: the crawl's progress line is wiped around it
                log.info("classified and indexed %d listing(s)", outcome.written + outcome.unchanged)

        # The markets' captcha gates need a human analyst (``dragnet session import``); the demo
        # runs without them so that it finishes unattended.  Faults (429, 5xx, expiring sessions)
        # stay on: the crawler has to recover from them.
        world_kwargs: dict[str, Any] = {"gates": False}
        if listings_per_market:
            world_kwargs["listings_per_market"] = listings_per_market
        with SimulatedWorld(**world_kwargs) as world:
            targets = [name for name in world.sites if name != "hostile"]
            if console is not None:
                console.print(f"crawling {', '.join(targets)} through SOCKS5 {world.proxy_url}", highlight=False)
            stats = run_crawl(targets, settings=settings, proxy_url=world.proxy_url, sink=sink)
            truth = world.ground_truth()
        close_embedded_stores()
        with open_store(settings) as store:
            store.refresh()
            summary = _summarise(store, SearchQuery, settings)
        summary.update(
            {
                "pages_crawled": _stat(stats, "pages", "pages_crawled", "responses"),
                "items_crawled": _stat(stats, "items", "items_scraped", "listings"),
                "crawl_stats": _jsonable(stats),
                "listings_received": outcome.received,
                "classified": outcome.classified,
                "indexed_new": outcome.written,
                "indexed_unchanged": outcome.unchanged,
                "dead_lettered": outcome.dead_lettered,
                "ground_truth": {name: len(records) for name, records in truth.items()},
                "model_dir": model_dir,
                "elapsed_s": round(time.monotonic() - started, 1),
            }
        )
        return summary
    finally:
        use_settings(previous)


def _jsonable(stats: Any) -> Any:
    if stats is None:
        return None
    dump = getattr(stats, "model_dump", None)
    if callable(dump):
        return dump(mode="json")
    if hasattr(stats, "__dataclass_fields__"):
        return asdict(stats)
    return stats if isinstance(stats, dict) else str(stats)


def _summarise(store: Any, SearchQuery: Any, settings: DragnetSettings) -> dict[str, Any]:
    total = store.count()
    hits = store.search(SearchQuery(is_drug_sale=True, sort="score_desc", size=TOP_HITS, facets=True, highlight=False))
    facets = {name: {b.value: b.count for b in buckets} for name, buckets in hits.facets.items()}
    top = []
    for hit in hits.hits:
        listing = hit.listing
        verdict = listing.classification
        top.append(
            {
                "title": (listing.title or listing.text)[:120],
                "url": listing.url,
                "market": listing.market or listing.platform,
                "score": round(verdict.score, 3) if verdict else None,
                "substances": {
                    k: round(v, 2)
                    for k, v in sorted((verdict.substances if verdict else {}).items(), key=lambda kv: -kv[1])
                    if v >= 0.5
                },
                # one line per distinct (kind, text): a term found in the title and again in the body
                # is two spans with their own offsets, but one thing to show
                "evidence": [
                    {"kind": kind, "text": text}
                    for kind, text in dict.fromkeys(
                        (e.kind, e.text[:80]) for e in (verdict.evidence if verdict else [])
                    )
                ][:6],
                "explanation": (verdict.explanation or "")[:300] if verdict else "",
                "vendor": listing.vendor.name if listing.vendor else None,
            }
        )
    host, port = settings.api.host, settings.api.port
    return {
        "listings_indexed": total,
        "drug_sale_hits": hits.total,
        "hits_by_substance": facets.get("substance", {}),
        "hits_by_market": facets.get("market", {}),
        "hits_by_site": facets.get("platform", {}),  # markets, forums and social platforms alike
        "hits_by_source_kind": facets.get("source_kind", {}),
        "top_hits": top,
        "store": str(settings.embedded_store_path),
        "search_at": f"http://{host}:{port}/search",
        "search_how": "dragnet demo --serve (or: dragnet serve) and open the address above",
    }


def print_summary(summary: dict[str, Any]) -> None:
    """A terminal summary; scraped text is printed as plain text, never as rich markup."""

    console = Console()
    console.print(f"\n[bold]Dragnet demo[/bold] finished in {summary['elapsed_s']} s")
    console.print(
        f"pages crawled: {summary.get('pages_crawled')}   listings: {summary['listings_received']}   "
        f"indexed: {summary['listings_indexed']}   drug-sale hits: {summary['drug_sale_hits']}   "
        f"dead-lettered: {summary['dead_lettered']}",
        highlight=False,
    )
    for title, key in (
        ("hits by substance", "hits_by_substance"),
        ("hits by market", "hits_by_market"),
        ("hits by site (markets, forum, social)", "hits_by_site"),
    ):
        table = Table(title=title)
        table.add_column("value")
        table.add_column("hits", justify="right")
        for value, count in sorted(summary[key].items(), key=lambda kv: -kv[1]):
            table.add_row(escape(str(value)), str(count))
        console.print(table)
    console.print("[bold]top hits[/bold]")
    for n, hit in enumerate(summary["top_hits"], 1):
        console.print(f"{n}. [{hit['score']}] {escape(hit['title'])}  ({escape(str(hit['market']))})", highlight=False)
        console.print(f"   {escape(hit['url'])}", highlight=False)
        if hit["substances"]:
            console.print(
                "   substances: " + escape(", ".join(f"{k} {v}" for k, v in hit["substances"].items())), highlight=False
            )
        for ev in hit["evidence"]:
            console.print(f"   - {escape(ev['kind'])}: {escape(ev['text'])}", highlight=False)
    console.print(f"\nstore: {summary['store']}", highlight=False)
    console.print(f"search them: {summary['search_how']} -> {summary['search_at']}", highlight=False)


def serve_ui(port: int | None = None) -> None:
    """Serve the analyst UI over the demo's store until Ctrl-C."""

    settings = demo_settings()
    if port is not None:
        settings = settings.model_copy(update={"api": settings.api.model_copy(update={"port": port})})
    use_settings(settings)

    key = KeyStore(settings).create_key("demo analyst", "analyst")  # stored hashed; shown once, here
    print(
        f"serving the analyst UI on http://{settings.api.host}:{settings.api.port}/search (Ctrl-C to stop)", flush=True
    )
    print(f"log in with this analyst API key (shown once): {key}", flush=True)
    uvicorn.run(create_app(settings), host=settings.api.host, port=settings.api.port, log_level="warning")
