"""Onion addresses (v3, or legacy v2) mentioned in text: new mirror links in forum posts, signed
mirror lists, listing pages."""

from __future__ import annotations

import re

ONION_HOST = re.compile(r"\b(?:[a-z0-9-]+\.)*(?:[a-z2-7]{56}|[a-z2-7]{16})\.onion\b", re.IGNORECASE)


def onion_hosts_in(text: str) -> list[str]:
    """Onion host names in ``text``, lower-cased, in order, each once."""
    seen: dict[str, None] = {}
    for m in ONION_HOST.finditer(text or ""):
        seen.setdefault(m.group(0).lower(), None)
    return list(seen)
