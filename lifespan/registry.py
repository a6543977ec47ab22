"""The market registry: which markets exist and at which addresses.

Seeds come from the crawler's site profiles (``crawl.profiles_dir`` or ``crawlers/profiles``),
read with the crawler's own loader, and from mirrors discovered later (signed mirror lists,
clone detection, analysts).  A market profile with at least one ``.onion`` URL among its start
URLs or mirrors is a probe target; a profile the crawler refuses is skipped with a log line,
never a crash.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from crawlers.profiles import ProfileError, load_profile
from crawlers.profiles import profiles_dir as crawl_profiles_dir
from dragnet.settings import DragnetSettings, get_settings
from extract.onion import onion_hosts_in
from lifespan.models import Market
from lifespan.store import LifespanStore, market_id_for

log = logging.getLogger(__name__)


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


def profile_entries(directory: Path) -> list[dict[str, Any]]:
    """Markets described by the site profiles in ``directory`` (name, hosts, start path,
    markers), read by the crawler's own loader so both parts agree on what a profile says.  A
    profile the crawler would refuse is skipped with a log line; forums and social sites are
    not probed."""
    entries: list[dict[str, Any]] = []
    if not directory.is_dir():
        return entries
    for path in sorted([*directory.glob("*.yaml"), *directory.glob("*.yml")]):
        try:
            profile = load_profile(path)
        except ProfileError as exc:
            log.warning("skipping profile %s: %s", path.name, exc)
            continue
        if profile.kind != "market":
            log.info("profile %s is a %s, not a marketplace; not a probe target", path.name, profile.kind)
            continue
        hosts = [hp for u in [*profile.start_urls, *profile.mirrors] if (hp := _host_and_path(u))]
        if not hosts:
            log.info("profile %s has no onion address; not a probe target", path.name)
            continue
        markers: dict[str, list[str]] = {"gate": list(profile.gate.markers) if profile.gate else [], "login": []}
        if profile.signed_mirrors_path and profile.signed_mirrors_path.startswith("/"):
            markers["mirrors_path"] = [profile.signed_mirrors_path[:200]]
        entries.append(
            {
                "name": profile.title.strip() if profile.title and profile.title.strip() else profile.name,
                "market_id": market_id_for(profile.name),
                "primary_host": hosts[0][0],
                "start_path": hosts[0][1],
                "hosts": list(dict.fromkeys(h for h, _ in hosts)),
                "markers": markers,
                "profile": path.name,
            }
        )
    return entries


def seed_from_profiles(
    store: LifespanStore, profiles_dir: Path | None = None, settings: DragnetSettings | None = None
) -> list[Market]:
    """Register every market of the site profiles with its addresses; idempotent."""
    settings = settings or get_settings()
    directory = crawl_profiles_dir(profiles_dir or settings.crawl.profiles_dir)
    markets = []
    for entry in profile_entries(directory):
        market = store.upsert_market(
            entry["name"],
            market_id=entry["market_id"],
            primary_host=entry["primary_host"],
            start_path=entry["start_path"],
            source=f"profile:{entry['profile']}",
            markers=entry["markers"],
        )
        for host in entry["hosts"]:
            store.add_mirror(market.market_id, host, "profile")
        markets.append(market)
    return markets


def register_market(
    store: LifespanStore, name: str, url: str, mirrors: list[str] | None = None, source: str = "analyst"
) -> Market:
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


def add_discovered_mirrors(
    store: LifespanStore, market_id: str, text: str, source_url: str | None = None, at: float | None = None
) -> list[str]:
    """Record onion addresses found in crawled text (a forum post "new Atlas link: ...") as
    unverified ``discovered`` mirrors of a market; returns the new ones.  They are never probed as
    the market until a signed mirror list or an analyst vouches for them, and
    :func:`lifespan.clones.detect_clones` checks them for phishing."""
    known = {m.host for m in store.mirrors(market_id)}
    new = [h for h in onion_hosts_in(text[:1_000_000]) if h not in known]
    for host in new[:100]:
        store.add_mirror(
            market_id, host, "discovered", note=f"found in {source_url}"[:300] if source_url else None, at=at
        )
    return new
