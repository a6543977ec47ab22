"""The ``dragnet`` command: the top of the import flow, where the parts are wired together.

Each part contributes its sub-commands through ``<part>/cli.py`` (a ``register`` function),
registered here by name: a part that is missing fails at import, loudly, instead of leaving a
command silently absent.  Parts never import each other's CLIs; what one part hands to another
(the crawler's listings to the workers) is passed in here."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import typer

from api import cli as api_cli
from bench import classify as bench_classify
from bench import crawl as bench_crawl
from bench import index as bench_index
from bench import lifespan as bench_lifespan
from bench import pipeline as bench_pipeline
from bench import scan as bench_scan
from bench import takedown as bench_takedown
from classifier import cli as classifier_cli
from crawlers import cli as crawlers_cli
from dragnet.demo import print_summary, run_demo, serve_ui
from dragnet.logs import configure_logging
from dragnet.services.harness import DEFAULT_SERVICES, KNOWN_SERVICES, prepare, serve_forever
from dragnet.services.socks_proxy import parse_map
from dragnet.settings import CONFIG_ENV_VAR, ConfigError, get_settings, load_settings, use_settings
from lifespan import cli as lifespan_cli
from takedown import cli as takedown_cli
from takedown.feedback import feedback_posts
from workers import cli as workers_cli
from workers.submit import submit_batch

app = typer.Typer(
    name="dragnet",
    help="Find drug-sale listings on dark-web markets and social media, prove them, act on them.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
bench_app = typer.Typer(
    help="Benchmarks: print figures beside a baseline measured in the same run.", no_args_is_help=True
)
services_app = typer.Typer(
    help="Start the real services (Redis, OpenSearch, Elasticsearch, SOCKS5) on loopback.", no_args_is_help=True
)
app.add_typer(bench_app, name="bench")
app.add_typer(services_app, name="services")

JSON_OPTION = typer.Option(False, "--json", help="One JSON object with the figures.")


@app.callback()
def _root(
    config: Path | None = typer.Option(None, "--config", "-c", help="TOML settings file (else $DRAGNET_CONFIG)."),
) -> None:
    try:
        if config is not None:
            use_settings(load_settings(config))
            # the processes this one starts (`crawl --scheduled`'s rounds) read the same file
            os.environ[CONFIG_ENV_VAR] = str(config.resolve())
        settings = get_settings()
    except ConfigError as exc:
        typer.echo(f"dragnet: {exc}", err=True)
        raise typer.Exit(code=2) from None
    configure_logging(settings.log_level, settings.log_json)


@app.command("demo")
def demo(
    serve: bool = typer.Option(False, "--serve", help="Then serve the analyst UI over the result."),
    json_output: bool = typer.Option(False, "--json", help="Print the summary as one JSON object."),
    listings_per_market: int | None = typer.Option(
        None, "--listings-per-market", help="Size of each simulated market."
    ),
    port: int | None = typer.Option(None, "--port", help="Port for --serve (default: settings.api.port)."),
) -> None:
    """Run the main job end to end on the embedded default (simulated sites, embedded store)."""
    summary = run_demo(listings_per_market=listings_per_market, progress=not json_output)
    if json_output:
        typer.echo(json.dumps(summary, default=str))
    else:
        print_summary(summary)
    if serve:
        serve_ui(port)


@bench_app.command("crawl")
def bench_crawl_command(json_output: bool = JSON_OPTION) -> None:
    """Benchmark: crawl throughput and memory through the SOCKS5 proxy."""
    bench_crawl.main(json_output=json_output)


@bench_app.command("classify")
def bench_classify_command(json_output: bool = JSON_OPTION) -> None:
    """Benchmark: the batched engine against a plain transformers pipeline."""
    bench_classify.main(json_output=json_output)


@bench_app.command("index")
def bench_index_command(json_output: bool = JSON_OPTION) -> None:
    """Benchmark: bulk and steady writes and search, engine and embedded, beside raw _bulk."""
    bench_index.main(json_output=json_output)


@bench_app.command("pipeline")
def bench_pipeline_command(
    json_output: bool = JSON_OPTION,
    markets: int = typer.Option(20, "--markets", min=1, help="Simulated markets in the fleet."),
    listings: int = typer.Option(50_000, "--listings", min=1, help="Listings over all markets."),
    workers: str = typer.Option("1,2,4", "--workers", help="Worker process counts; the first is the baseline."),
    crawlers: str = typer.Option("1,2", "--crawlers", help="Crawler process counts."),
    store: str = typer.Option("opensearch", "--store", help="opensearch (a node started for the run) or embedded."),
) -> None:
    """Benchmark: crawlers -> broker -> classify -> index -> searchable, scaled by worker and crawler processes."""
    try:
        worker_counts = bench_pipeline.parse_counts(workers)
        crawler_counts = bench_pipeline.parse_counts(crawlers)
        if store not in bench_pipeline.STORES:
            raise ValueError(f"--store must be one of {', '.join(bench_pipeline.STORES)}")
        if listings < markets:
            raise ValueError("--listings must be at least --markets (one listing per market)")
    except ValueError as exc:
        typer.echo(f"dragnet bench pipeline: {exc}", err=True)
        raise typer.Exit(code=2) from None
    bench_pipeline.main(
        json_output=json_output,
        markets=markets,
        listings=listings,
        workers=worker_counts,
        crawlers=crawler_counts,
        store=store,
    )


@bench_app.command("takedown")
def bench_takedown_command(
    json_output: bool = JSON_OPTION, hits: int = typer.Option(200, help="Hits per variant.")
) -> None:
    """Benchmark: notice ingest with/without bundles, verify, JSON vs STIX, push vs pull."""
    bench_takedown.main(json_output=json_output, n=hits)


@bench_app.command("lifespan")
def bench_lifespan_command(
    json_output: bool = JSON_OPTION, markets: int = typer.Option(24, help="Simulated markets per probe round.")
) -> None:
    """Benchmark: a probe round of many markets, sequential against parallel."""
    bench_lifespan.main(json_output=json_output, markets=markets)


@bench_app.command("scan")
def bench_scan_command(json_output: bool = JSON_OPTION) -> None:
    """Benchmark: the platforms' scan API (batches of 1, 32, 256) beside classify_stream."""
    bench_scan.main(json_output=json_output)


@services_app.command("up")
def services_up(
    names: list[str] = typer.Argument(
        None, help="redis, opensearch, elasticsearch, socks (default: redis, opensearch, socks)."
    ),
    onion_map: list[str] = typer.Option(
        [],
        "--map",
        metavar="NAME=HOST:PORT",
        help="Make NAME.onion reachable through the SOCKS proxy at a loopback HOST:PORT (repeatable).",
    ),
) -> None:
    """Start services on free loopback ports and print their DRAGNET_* variables."""
    services = names or list(DEFAULT_SERVICES)
    unknown = [name for name in services if name not in KNOWN_SERVICES]
    try:
        if unknown:
            raise ValueError(f"unknown service {unknown[0]!r}; known: {', '.join(KNOWN_SERVICES)}")
        mapped = parse_map(onion_map)
        if mapped and "socks" not in services:
            raise ValueError("--map needs the socks service (dragnet services up socks --map ...)")
    except ValueError as exc:
        # refused before anything starts, in one line
        typer.echo(f"dragnet services up: {exc}", err=True)
        raise typer.Exit(code=2) from None
    serve_forever(services, mapped)


@services_app.command("prepare")
def services_prepare() -> None:
    """Install and download what the services need (Debian packages, search engine jars), once."""
    prepare()
    typer.echo("services ready")


# `dragnet crawl --scheduled` runs each round as `python -m dragnet.cli crawl SITE ...` (one reactor a process)
crawlers_cli.register(app, handoff=submit_batch, child=[sys.executable, "-m", "dragnet.cli"])
app.add_typer(crawlers_cli.profile_app(), name="profile")
classifier_cli.register(app, feedback=feedback_posts)
workers_cli.register(app)
api_cli.register(app)
takedown_cli.register(app)
lifespan_cli.register(app)


def main() -> None:
    # Everything Dragnet writes (scraped pages, WARC evidence, keys, notices, exports) is for its
    # operator only: files 0600 and folders 0700, whatever the shell's umask says.
    os.umask(0o077)
    try:
        app()
    except ConfigError as exc:
        typer.echo(f"dragnet: {exc}", err=True)
        sys.exit(2)


if __name__ == "__main__":
    main()
