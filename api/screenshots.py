"""``dragnet docs screenshots``: a PNG of each main page of the analyst UI, for docs/ui.md.

Why a command: pictures in documentation go stale the day a template changes; this one
regenerates them all from the showcase data (:mod:`api.showcase`) in a throwaway embedded store,
served on loopback and photographed in Debian's Chromium, so nothing outside the machine is
used and the user's own data directory is never touched."""

from __future__ import annotations

import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import uvicorn

from api.app import create_app
from api.showcase import Showcase, pages, seed
from dragnet.services.chromium import launch_options
from dragnet.services.process import ServiceError, free_port
from dragnet.settings import DragnetSettings, get_settings, use_settings
from index.factory import open_store

if TYPE_CHECKING:  # the browser library itself loads only when the command runs
    from playwright.sync_api import ViewportSize

VIEWPORT: ViewportSize = {"width": 1280, "height": 900}
# page name (of api.showcase.pages) -> what the analyst does there; docs/ui.md uses the same lines
SHOTS: dict[str, str] = {
    "search-histogram": (
        "Search listings in plain words, narrow by facets and see when they appeared (per week, by market)."
    ),
    "listing-diff": "Read one listing and what changed between crawls: price, ships-from, PGP key, contacts.",
    "vendor": "Follow a vendor across markets through shared handles and keys, with a weekly timeline.",
    "entity": "Pivot from one handle, key or wallet to every listing and vendor that carries it.",
    "case": "Collect listings into a case with notes and tags, and export it as evidence.",
    "review": "Approve or reject takedown notices, least certain first, before they reach a platform.",
    "operator": "Operators check crawls, the notice queue and each market's state in one view.",
    "lifespan": "See how long markets live and how they close, with survival curves.",
    "lifespan-market": "One market's uptime, state changes (a suspected exit scam) and probes.",
}
# a page whose point is below the top of the window: scroll this element to the top first
SCROLL_TO = {"vendor": "section.identity", "listing-diff": "article.version-diff"}


def _settings(base: DragnetSettings, data_dir: Path) -> DragnetSettings:
    """The embedded store and no broker, in ``data_dir``; caches stay where they are."""
    return base.model_copy(
        update={
            "paths": base.paths.model_copy(update={"data_dir": data_dir}),
            "redis": base.redis.model_copy(update={"url": None}),
            "search": base.search.model_copy(update={"backend": "embedded", "embedded_path": None}),
        }
    )


@contextmanager
def _served(settings: DragnetSettings) -> Iterator[tuple[str, Showcase]]:
    """The app on a free loopback port over a freshly seeded store."""
    store = open_store(settings)
    try:
        show = seed(settings, store)
        port = free_port()
        config = uvicorn.Config(
            create_app(settings, store=store), host="127.0.0.1", port=port, log_level="warning", lifespan="on"
        )
        server = uvicorn.Server(config)
        thread = threading.Thread(target=server.run, name="screenshots-app", daemon=True)
        thread.start()
        deadline = time.monotonic() + 30
        while not server.started and thread.is_alive() and time.monotonic() < deadline:
            time.sleep(0.05)
        if not server.started:
            raise ServiceError("the app did not start on loopback for the screenshots")
        try:
            yield f"http://127.0.0.1:{port}", show
        finally:
            server.should_exit = True
            thread.join(timeout=10)
    finally:
        store.close()


def _shrink(path: Path) -> None:
    """Re-save as a 256-colour palette PNG: a UI of flat colours loses nothing a reader sees,
    and each file shrinks to a fraction (they are committed)."""
    from PIL import Image  # Pillow only for this command

    with Image.open(path) as image:
        small = image.convert("RGB").quantize(colors=256, method=Image.Quantize.MEDIANCUT)
    small.save(path, optimize=True)


def take_screenshots(out: Path, settings: DragnetSettings | None = None, names: tuple[str, ...] = ()) -> list[Path]:
    """Write ``<name>.png`` for each page of :data:`SHOTS` (or of ``names``) into ``out``."""
    from playwright.sync_api import sync_playwright  # a browser only for this command, not at CLI start

    wanted = names or tuple(SHOTS)
    unknown = sorted(set(wanted) - set(SHOTS))
    if unknown:
        raise ValueError(f"unknown page(s) {', '.join(unknown)}; known: {', '.join(SHOTS)}")
    out.mkdir(parents=True, exist_ok=True)
    previous = get_settings()
    written: list[Path] = []
    with tempfile.TemporaryDirectory(prefix="dragnet-screenshots-") as tmp:
        own = _settings(settings or previous, Path(tmp))
        use_settings(own)
        try:
            with _served(own) as (base_url, show), sync_playwright() as pw:
                browser = pw.chromium.launch(**launch_options(configured=own.browser.chromium_path))
                keys = {"analyst": show.analyst_key, "operator": show.operator_key, "admin": show.admin_key}
                contexts = {}
                try:
                    for name in wanted:
                        role, path = pages(show)[name]
                        if role not in contexts:
                            contexts[role] = browser.new_context(
                                base_url=base_url, viewport=VIEWPORT, device_scale_factor=1
                            )
                            page = contexts[role].new_page()
                            page.goto("/login")
                            page.fill("input[name=key]", keys[role])
                            page.click("button[type=submit]")
                            page.wait_for_load_state()
                            page.close()
                        page = contexts[role].new_page()
                        response = page.goto(path)
                        if response is None or response.status != 200:
                            raise ServiceError(f"{path} answered {response.status if response else 'nothing'}")
                        if name in SCROLL_TO:
                            page.locator(SCROLL_TO[name]).first.evaluate("element => element.scrollIntoView()")
                        target = out / f"{name}.png"
                        page.screenshot(path=str(target), full_page=False)
                        page.close()
                        _shrink(target)
                        written.append(target)
                finally:
                    browser.close()
        finally:
            use_settings(previous)
    return written
