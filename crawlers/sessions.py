"""Analyst-supplied sessions and paused (gated) sites, kept as small JSON files under
``<data_dir>/sessions`` so that ``dragnet session import`` and a running crawler (another
process) agree without a database."""

from __future__ import annotations

import json
import os
import re
import time
from pathlib import Path
from typing import Any

from dragnet.settings import DragnetSettings, get_settings

_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")
_TOKEN = re.compile(r"^[!#$%&'*+\-.^_`|~0-9A-Za-z]{1,256}$")  # RFC 6265 cookie-name (an RFC 7230 token)
_VALUE = re.compile(r"^[\x21\x23-\x2B\x2D-\x3A\x3C-\x5B\x5D-\x7E]*$")  # RFC 6265 cookie-octet


class SessionStore:
    def __init__(self, settings: DragnetSettings | None = None) -> None:
        self.root = (settings or get_settings()).paths.data_dir / "sessions"

    def _path(self, site: str, suffix: str) -> Path:
        if not _NAME.match(site):
            raise ValueError(f"bad site name {site!r}")
        return self.root / f"{site}.{suffix}.json"

    @staticmethod
    def parse_cookie(cookie: str) -> dict[str, str]:
        """``"name=value; other=value"`` (a browser's Cookie header) -> dict.  Every pair is read
        on its own (the standard library's parser stops at the first bad one and keeps the rest
        quiet); any pair that is not a cookie refuses the whole header, naming each bad pair."""
        cookies: dict[str, str] = {}
        problems: list[str] = []
        for number, pair in enumerate(cookie.strip().split(";"), start=1):
            pair = pair.strip()
            if not pair:
                continue
            name, sep, value = pair.partition("=")
            name, value = name.strip(), value.strip()
            if len(value) >= 2 and value[0] == value[-1] == '"':
                value = value[1:-1]
            if not sep:
                problems.append(f"pair {number} ({pair[:40]!r}): no '='")
            elif not _TOKEN.match(name):
                problems.append(f"pair {number} ({name[:40]!r}): not a cookie name")
            elif not _VALUE.match(value):
                problems.append(f"cookie {name!r}: value holds characters a cookie cannot")
            elif len(value) > 4096:
                problems.append(f"cookie {name!r}: value longer than 4096 characters")
            else:
                cookies[name] = value
        if problems:
            raise ValueError("nothing imported: " + "; ".join(problems))
        if not cookies:
            raise ValueError("no cookie found: expected NAME=VALUE[; NAME=VALUE...]")
        return cookies

    def import_cookie(self, site: str, cookie: str) -> dict[str, str]:
        """Store the cookies for ``site`` and lift its pause; the next crawl resumes with them.
        The file is replaced atomically: a crawler reading it sees the old or the new session."""
        cookies = self.parse_cookie(cookie)
        self.root.mkdir(parents=True, exist_ok=True)
        target = self._path(site, "cookies")
        partial = target.with_suffix(f".tmp{os.getpid()}")
        partial.write_text(json.dumps({"cookies": cookies, "imported_at": time.time()}))
        os.replace(partial, target)
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
