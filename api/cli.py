"""``dragnet serve`` (API + analyst UI, with the saved-search alert loop) and ``dragnet keys``."""

from __future__ import annotations

import logging
import threading

import typer
import uvicorn

from api.alerts import check_all
from api.app import create_app
from api.auth import KeyStore
from dragnet.settings import get_settings
from index.factory import open_store


def register(app: typer.Typer) -> None:
    @app.command("serve")
    def serve(
        host: str | None = typer.Option(None, help="Bind address (default: settings.api.host)."),
        port: int | None = typer.Option(None, help="Port (default: settings.api.port)."),
        alerts: bool = typer.Option(
            True, "--alerts/--no-alerts", help="Check saved searches every api.alert_interval_s."
        ),
    ) -> None:
        """Serve the API and the analyst UI."""

        settings = get_settings()
        application = create_app(settings)
        stop = threading.Event()
        if alerts:

            def loop() -> None:
                log = logging.getLogger("api.alerts")
                while not stop.wait(settings.api.alert_interval_s):
                    try:
                        with open_store(settings) as store:
                            check_all(settings, store)
                    except Exception:
                        log.exception("saved-search check failed")

            threading.Thread(target=loop, name="saved-search-alerts", daemon=True).start()
        try:
            uvicorn.run(
                application,
                host=host or settings.api.host,
                port=port or settings.api.port,
                log_level=settings.log_level.lower(),
                proxy_headers=False,
            )
        finally:
            stop.set()

    @app.command("keys")
    def keys(
        name: str = typer.Argument(..., help="Who the key is for."),
        role: str = typer.Option("analyst", help="analyst, operator, admin or platform:<name>."),
    ) -> None:
        """Create an API key (printed once; only its hash is stored)."""

        try:
            typer.echo(KeyStore().create_key(name, role))
        except ValueError as exc:
            typer.echo(f"dragnet keys: {exc}", err=True)
            raise typer.Exit(code=2) from None
