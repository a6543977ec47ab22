"""The market registry: which markets exist and at which addresses.

Seeds come from the crawler's YAML site profiles (``crawl.profiles_dir`` or ``crawlers/profiles``)
and from mirrors discovered later (signed mirror lists, clone detection, analysts).  Profiles are
written by another part and may change shape, so they are read defensively: a profile needs a
``name`` and at least one ``.onion`` URL among its start URLs or mirrors; anything else is skipped
with a log line, never a crash.
"""

from __future__ import annotations

import importlib.util
import logging
import re
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from dragnet.settings import DragnetSettings, get_settings
from index.lifespan.models import Market
from index.lifespan.store import LifespanStore, market_id_for

log = logging.getLogger(__name__)

PROBED_KINDS = frozenset({"market", "onion_market", "marketplace", "shop", "vendor_shop"})
ONION_HOST = re.compile(r"\b(?:[a-z0-9-]+\.)*(?:[a-z2-7]{56}|[a-z2-7]{16})\.onion\b", re.IGNORECASE)


def onion_hosts_in(text: str) -> list[str]:
    """Onion addresses (v3, or legacy v2) mentioned in ``text``, lower-cased, in order, unique."""
    seen: dict[str, None] = {}
    for m in ONION_HOST.finditer(text or ""):
        seen.setdefault(m.group(0).lower(), None)
    return list(seen)


def default_profiles_dir(settings: DragnetSettings | None = None) -> Path | None:
    settings = settings or get_settings()
    if settings.crawl.profiles_dir is not None:
        return settings.crawl.profiles_dir
    spec = importlib.util.find_spec("crawlers")
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(list(spec.submodule_search_locations)[0]) / "profiles"


def _urls(value: Any) -> list[str]:
    """Strings, lists of strings, or lists of {url|host|address: ...} mappings."""
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    out: list[str] = []
    if isinstance(value, dict):
        value = [value]
    if isinstance(value, (list, tuple)):
        for item in value:
            if isinstance(item, str):
                out.append(item)
            elif isinstance(item, dict):
                for key in ("url", "host", "address", "onion"):
                    if isinstance(item.get(key), str):
                        out.append(item[key])
                        break
    return out


def _markers(profile: dict[str, Any], word: str) -> list[str]:
    """Marker strings from any key mentioning ``word`` (``gate_markers``, ``gate: {markers: []}``...)."""
    found: list[str] = []

    def walk(node: Any, path: str) -> None:
        if isinstance(node, dict):
            for k, v in node.items():
                walk(v, f"{path}.{str(k).lower()}")
        elif isinstance(node, list):
            if word in path and not path.endswith(("selector", "selectors", "url", "urls")):
                found.extend(str(x)[:200] for x in node if isinstance(x, str))
            for item in node:
                if isinstance(item, dict):
                    walk(item, path)
        elif isinstance(node, str) and word in path and "marker" in path:
            found.append(node[:200])

    walk(profile, "")
    return found[:50]


def _host_and_path(url: str) -> tuple[str, str] | None:
    if "://" not in url:
        url = "http://" + url
    parts = urlsplit(url)
    if not parts.hostname or not parts.hostname.endswith(".onion"):
        return None
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    return parts.hostname.lower(), path


def profile_entries(profiles_dir: Path) -> list[dict[str, Any]]:
    """Markets described by the YAML profiles in ``profiles_dir`` (name, hosts, start path, markers)."""
    import yaml

    entries: list[dict[str, Any]] = []
    if not profiles_dir.is_dir():
        return entries
    for path in sorted(list(profiles_dir.glob("*.yaml")) + list(profiles_dir.glob("*.yml"))):
        try:
            if path.stat().st_size > 1_000_000:
                raise ValueError("profile larger than 1 MB")
            data = yaml.safe_load(path.read_text(encoding="utf-8"))
        except Exception as exc:  # noqa: BLE001 - a broken profile must not stop the registry
            log.warning("skipping profile %s: %s", path.name, exc)
            continue
        if not isinstance(data, dict) or not isinstance(data.get("name"), str):
            log.warning("skipping profile %s: no name", path.name)
            continue
        kind = str(data.get("kind") or "market").lower()
        if kind not in PROBED_KINDS:
            log.info("profile %s is a %s, not a marketplace; not a probe target", path.name, kind)
            continue
        urls = _urls(data.get("start_urls")) + _urls(data.get("start_url")) + _urls(data.get("urls"))
        mirror_urls = _urls(data.get("mirrors"))
        hosts: list[tuple[str, str]] = [hp for u in urls + mirror_urls if (hp := _host_and_path(u))]
        if not hosts:
            log.info("profile %s has no onion address; not a probe target", path.name)
            continue
        market_field = data.get("market") if isinstance(data.get("market"), str) else None
        markers = {"gate": _markers(data, "gate") + _markers(data, "captcha"), "login": _markers(data, "login")}
        mirrors_path = data.get("signed_mirrors_path")
        if isinstance(mirrors_path, str) and mirrors_path.startswith("/"):
            markers["mirrors_path"] = [mirrors_path[:200]]
        title = data.get("title")
        entries.append({
            "name": title if isinstance(title, str) and title.strip() else data["name"],
            "market_id": market_id_for(str(data.get("id") or market_field or data["name"])),
            "primary_host": hosts[0][0],
            "start_path": hosts[0][1],
            "hosts": list(dict.fromkeys(h for h, _ in hosts)),
            "markers": markers,
            "profile": path.name,
        })
    return entries


def seed_from_profiles(store: LifespanStore, profiles_dir: Path | None = None,
                       settings: DragnetSettings | None = None) -> list[Market]:
    """Register every market of the site profiles with its addresses; idempotent."""
    profiles_dir = profiles_dir or default_profiles_dir(settings)
    if profiles_dir is None:
        return []
    markets = []
    for entry in profile_entries(profiles_dir):
        market = store.upsert_market(entry["name"], market_id=entry["market_id"], primary_host=entry["primary_host"],
                                     start_path=entry["start_path"], source=f"profile:{entry['profile']}",
                                     markers=entry["markers"])
        for host in entry["hosts"]:
            store.add_mirror(market.market_id, host, "profile")
        markets.append(market)
    return markets


def register_market(store: LifespanStore, name: str, url: str, mirrors: list[str] | None = None,
                    source: str = "analyst") -> Market:
    """Register one market by URL (and its mirrors) without a profile."""
    hp = _host_and_path(url)
    if hp is None:
        raise ValueError(f"not an onion URL: {url!r}")
    market = store.upsert_market(name, primary_host=hp[0], start_path=hp[1], source=source)
    store.add_mirror(market.market_id, hp[0], source)
    for m in mirrors or []:
        mhp = _host_and_path(m)
        if mhp:
            store.add_mirror(market.market_id, mhp[0], source)
    return market


def add_discovered_mirrors(store: LifespanStore, market_id: str, text: str, source_url: str | None = None,
                           at: float | None = None) -> list[str]:
    """Record onion addresses found in crawled text (a forum post "new Atlas link: ...") as
    unverified ``discovered`` mirrors of a market; returns the new ones.  They are never probed as
    the market until a signed mirror list or an analyst vouches for them, and
    :func:`index.lifespan.clones.detect_clones` checks them for phishing."""
    known = {m.host for m in store.mirrors(market_id)}
    new = [h for h in onion_hosts_in(text[:1_000_000]) if h not in known]
    for host in new[:100]:
        store.add_mirror(market_id, host, "discovered", note=f"found in {source_url}"[:300] if source_url else None,
                         at=at)
    return new
