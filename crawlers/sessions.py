"""Analyst-supplied sessions and paused (gated) sites, kept as small JSON files under
``<data_dir>/sessions`` so that ``dragnet session import`` and a running crawler (another
process) agree without a database."""

from __future__ import annotations

import json
import re
import time
from http.cookies import SimpleCookie
from pathlib import Path
from typing import Any

from dragnet.settings import DragnetSettings, get_settings

_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")


class SessionStore:
    def __init__(self, settings: DragnetSettings | None = None) -> None:
        self.root = (settings or get_settings()).paths.data_dir / "sessions"

    def _path(self, site: str, suffix: str) -> Path:
        if not _NAME.match(site):
            raise ValueError(f"bad site name {site!r}")
        return self.root / f"{site}.{suffix}.json"

    @staticmethod
    def parse_cookie(cookie: str) -> dict[str, str]:
        """``"name=value; other=value"`` (a browser's Cookie header) -> dict."""
        jar: SimpleCookie = SimpleCookie()
        jar.load(cookie.strip())
        cookies = {name: morsel.value for name, morsel in jar.items()}
        if not cookies:
            raise ValueError("no cookie found: expected NAME=VALUE[; NAME=VALUE...]")
        return cookies

    def import_cookie(self, site: str, cookie: str) -> dict[str, str]:
        """Store the cookies for ``site`` and lift its pause; the next crawl resumes with them."""
        cookies = self.parse_cookie(cookie)
        self.root.mkdir(parents=True, exist_ok=True)
        self._path(site, "cookies").write_text(json.dumps({"cookies": cookies, "imported_at": time.time()}))
        self._path(site, "paused").unlink(missing_ok=True)
        return cookies

    def cookies(self, site: str) -> dict[str, str]:
        path = self._path(site, "cookies")
        if not path.is_file():
            return {}
        return dict(json.loads(path.read_text()).get("cookies", {}))

    def pause(self, site: str, reason: str, page: Path | None = None, url: str | None = None) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        self._path(site, "paused").write_text(
            json.dumps({"reason": reason, "page": str(page) if page else None, "url": url, "at": time.time()})
        )

    def paused(self, site: str) -> dict[str, Any] | None:
        path = self._path(site, "paused")
        return json.loads(path.read_text()) if path.is_file() else None

    def resume(self, site: str) -> None:
        self._path(site, "paused").unlink(missing_ok=True)
