"""``dragnet serve`` (API + analyst UI, with the saved-search alert loop), ``dragnet keys`` and
``dragnet docs screenshots`` (the UI's pictures in docs/)."""

from __future__ import annotations

import logging
import signal
import threading
from pathlib import Path

import typer
import uvicorn

from api.alerts import check_all
from api.app import create_app
from api.auth import KeyStore
from api.intake import IntakeConsumer, IntakeUnavailable
from api.screenshots import SHOTS, take_screenshots
from dragnet.services.process import ServiceError
from dragnet.settings import get_settings
from index.factory import open_store

PAGE_OPTION = typer.Option([], "--page", help=f"Only this page (repeatable): {', '.join(SHOTS)}.", show_default=False)


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

    intake_app = typer.Typer(help="Continuous intake: classify what platforms push.", no_args_is_help=True)
    app.add_typer(intake_app, name="intake")

    @intake_app.command("run")
    def intake_run(
        name: str | None = typer.Option(
            None, help="Consumer name; keep it stable per process slot so a restart resumes what it held."
        ),
        once: bool = typer.Option(False, "--once", help="One round over every platform stream, then exit."),
    ) -> None:
        """Classify posts pushed to /api/v1/intake as they arrive (a consumer-group member)."""
        try:
            consumer = IntakeConsumer(get_settings(), name)
        except IntakeUnavailable as exc:
            typer.echo(f"dragnet intake run: {exc}", err=True)
            raise typer.Exit(code=2) from None
        if once:
            typer.echo(f"{consumer.run_once()} post(s) classified")
            return
        signal.signal(signal.SIGTERM, lambda *_: consumer.stop())
        try:
            consumer.run()
        except KeyboardInterrupt:
            consumer.stop()

    keys_app = typer.Typer(help="API keys: create, list, revoke, rotate (plaintext shown once).", no_args_is_help=True)
    app.add_typer(keys_app, name="keys")

    @keys_app.command("create")
    def keys_create(
        name: str = typer.Argument(..., help="Who the key is for."),
        role: str = typer.Option("analyst", help="analyst, operator, admin or platform:<name>."),
        expires_days: float | None = typer.Option(
            None, "--expires-days", help="Lifetime in days (default: api.key_ttl_days)."
        ),
        never_expires: bool = typer.Option(False, "--never-expires", help="A key without an expiry date."),
    ) -> None:
        """Create an API key (printed once; only its hash is stored)."""
        ttl = None if never_expires else (expires_days if expires_days is not None else -1.0)
        try:
            typer.echo(KeyStore().create_key(name, role, ttl_days=ttl))
        except ValueError as exc:
            typer.echo(f"dragnet keys create: {exc}", err=True)
            raise typer.Exit(code=2) from None

    @keys_app.command("list")
    def keys_list() -> None:
        """Every key: id, state, role, holder, created, expires (never the key itself)."""
        entries = KeyStore().list_keys()
        for entry in entries:
            typer.echo(
                f"{entry['key_id']}  {entry['state']:<8} {entry['role']:<20} {entry['name']}  "
                f"created {entry['created_at']}  expires {entry['expires_at'] or 'never'}"
            )
        if not entries:
            typer.echo("no keys", err=True)

    @keys_app.command("revoke")
    def keys_revoke(key_id: str = typer.Argument(..., help="The key's id (see `dragnet keys list`).")) -> None:
        """Revoke a key at once."""
        if not KeyStore().revoke(key_id):
            typer.echo(f"dragnet keys revoke: no active key {key_id}", err=True)
            raise typer.Exit(code=1)
        typer.echo(f"revoked {key_id}")

    @keys_app.command("rotate")
    def keys_rotate(key_id: str = typer.Argument(..., help="The key's id (see `dragnet keys list`).")) -> None:
        """Replace a key: a new one (printed once) for the same holder and role; the old is revoked."""
        try:
            typer.echo(KeyStore().rotate(key_id))
        except KeyError:
            typer.echo(f"dragnet keys rotate: no active key {key_id}", err=True)
            raise typer.Exit(code=1) from None

    docs_app = typer.Typer(help="Documentation made from the running product.", no_args_is_help=True)
    app.add_typer(docs_app, name="docs")

    @docs_app.command("screenshots")
    def docs_screenshots(
        out: Path = typer.Option(Path("docs/screenshots"), "--out", help="Folder for the PNG files."),
        page: list[str] = PAGE_OPTION,
    ) -> None:
        """A PNG of each main UI page over invented demo data (embedded store, Chromium, loopback only)."""
        try:
            written = take_screenshots(out, names=tuple(page))
        except (ValueError, ServiceError) as exc:
            typer.echo(f"dragnet docs screenshots: {exc}", err=True)
            raise typer.Exit(code=2) from None
        for path in written:
            typer.echo(f"{path}  {path.stat().st_size // 1024} KiB")
