"""Debian's Chromium for Playwright.  Playwright's own browser download cannot work on these
machines, so every launch goes through :func:`launch_options` with ``executable_path``."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from dragnet.services.process import ServiceError, require_binary

# Without the background-networking switches Chromium keeps dialling Google's hosts, which a
# closed network refuses; --no-sandbox because services and CI run as root.
CHROMIUM_ARGS: tuple[str, ...] = (
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-default-apps",
    "--metrics-recording-only",
)


def chromium_path(configured: Path | None = None, install: bool = True) -> Path:
    if configured is not None:
        if not configured.exists():
            raise ServiceError(f"configured chromium_path {configured} does not exist")
        return configured
    for name in ("chromium", "chromium-browser"):
        found = shutil.which(name)
        if found:
            return Path(found)
    if install:
        return Path(require_binary("chromium", "chromium"))
    raise ServiceError("Chromium is not installed: run 'apt-get install chromium' (or scripts/setup.sh)")


def launch_options(
    proxy_server: str | None = None, headless: bool = True, configured: Path | None = None
) -> dict[str, Any]:
    """Keyword arguments for ``playwright.chromium.launch`` (and scrapy-playwright's
    ``PLAYWRIGHT_LAUNCH_OPTIONS``)."""
    options: dict[str, Any] = {
        "executable_path": str(chromium_path(configured)),
        "headless": headless,
        "args": list(CHROMIUM_ARGS),
    }
    if proxy_server:
        options["proxy"] = {"server": proxy_server}
    return options
