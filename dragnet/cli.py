"""The ``dragnet`` command.  Each part registers its own sub-commands (``<part>/cli.py``,
function ``register``); heavy imports (torch, scrapy) stay inside command bodies so that
``dragnet --help`` answers at once."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path
from typing import Optional

import typer

from dragnet.settings import ConfigError, get_settings, load_settings, use_settings

app = typer.Typer(
    name="dragnet",
    help="Find drug-sale listings on dark-web markets and social media, prove them, act on them.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
bench_app = typer.Typer(help="Benchmarks: print figures beside a baseline measured in the same run.",
                        no_args_is_help=True)
services_app = typer.Typer(help="Start the real services (Redis, OpenSearch, SOCKS5) on loopback.",
                           no_args_is_help=True)
app.add_typer(bench_app, name="bench")
app.add_typer(services_app, name="services")

# Each part's CLI module; its ``register(app)`` adds the part's commands.
PART_CLIS: tuple[str, ...] = (
    "crawlers.cli",
    "classifier.cli",
    "workers.cli",
    "api.cli",
    "index.feeds.cli",
    "index.lifespan.cli",
)
BENCHMARKS: dict[str, str] = {
    "crawl": "bench.crawl",
    "classify": "bench.classify",
    "pipeline": "bench.pipeline",
    "index": "bench.index",
}


def not_built(what: str) -> None:
    """Say plainly that a sub-command exists in the plan but not yet in the code."""
    typer.echo(f"dragnet {what}: not built yet", err=True)
    raise typer.Exit(code=2)


@app.callback()
def _root(
    config: Optional[Path] = typer.Option(None, "--config", "-c", help="TOML settings file (else $DRAGNET_CONFIG)."),
) -> None:
    from dragnet.logs import configure_logging

    try:
        if config is not None:
            use_settings(load_settings(config))
        settings = get_settings()
    except ConfigError as exc:
        typer.echo(f"dragnet: {exc}", err=True)
        raise typer.Exit(code=2) from None
    configure_logging(settings.log_level, settings.log_json)


def _make_bench(name: str, module_name: str) -> None:
    def command(json_output: bool = typer.Option(False, "--json", help="One JSON object with the figures.")) -> None:
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name == module_name:
                not_built(f"bench {name}")
            raise
        module.main(json_output=json_output)

    command.__doc__ = f"Benchmark: {name}."
    bench_app.command(name)(command)


for _name, _module in BENCHMARKS.items():
    _make_bench(_name, _module)


@services_app.command("up")
def services_up(
    names: list[str] = typer.Argument(None, help="redis, opensearch, socks (default: all)."),
) -> None:
    """Start services on free loopback ports and print their DRAGNET_* variables."""
    from dragnet.services.harness import KNOWN_SERVICES, serve_forever

    serve_forever(names or list(KNOWN_SERVICES))


@services_app.command("prepare")
def services_prepare() -> None:
    """Install and download what the services need (Debian packages, OpenSearch jars), once."""
    from dragnet.services.harness import prepare

    prepare()
    typer.echo("services ready")


def _register_parts() -> None:
    for module_name in PART_CLIS:
        module = importlib.import_module(module_name)
        module.register(app)


_register_parts()


def main() -> None:
    try:
        app()
    except ConfigError as exc:
        typer.echo(f"dragnet: {exc}", err=True)
        sys.exit(2)


if __name__ == "__main__":
    main()
