"""The vendor-identity graph: which vendor aliases (a name on a market) are one seller, and why.

Nodes are aliases.  Edges carry their reasons:

* ``pgp`` / ``contact`` / ``wallet``: the aliases' listings share the key (with the number of
  listings carrying it), as :func:`index.vendors.resolve_vendor` links them;
* ``text``: near-duplicate listing text (word 5-shingles, Jaccard >= :data:`NEAR_DUP`);
* ``merge``: an analyst merged the two (kept in the API's database, reversible there);
* ``same_name``: the same name on two markets and nothing else: drawn, never merged.

An identity is a connected component over the strong edges (all but ``same_name``), so two
"Lion"s with different keys stay two identities side by side with the reason "same name only",
until an analyst merges them.  Positions for the server-side SVG are computed here (a circle per
identity), so the template draws without logic of its own."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from pydantic import BaseModel, Field

from dragnet.documents import Listing
from index.docs import identifiers
from index.entities import norm_vendor
from index.store import ListingStore, SearchQuery
from index.vendors import MAX_ALIASES_PER_IDENTIFIER, alias_key, resolve_vendor

NEAR_DUP = 0.7
MAX_LISTINGS_PER_ALIAS = 40  # for the text comparison
MAX_NODES = 40
_WORDS = re.compile(r"[^\W_]+", re.UNICODE)
STRONG = ("pgp", "contact", "wallet", "text", "merge")


@dataclass(frozen=True)
class Merge:
    """An analyst's merge of two aliases (``name@market`` keys)."""

    a: str
    b: str
    by: str
    note: str = ""


class IdentityNode(BaseModel):
    key: str
    name: str
    market: str | None = None
    listings: int = 0
    identity: int = 0
    x: float = 0.0
    y: float = 0.0


class IdentityEdge(BaseModel):
    a: str
    b: str
    kind: str = Field(description="pgp, contact, wallet, text, merge or same_name")
    reason: str
    strong: bool


class IdentityGraph(BaseModel):
    name: str
    market: str | None = None
    nodes: list[IdentityNode] = Field(default_factory=list)
    edges: list[IdentityEdge] = Field(default_factory=list)
    identities: list[list[str]] = Field(default_factory=list, description="alias keys per identity")
    width: int = 640
    height: int = 320
    truncated: bool = False


def _short(identifier: str) -> tuple[str, str]:
    """(kind, label) of a linking identifier: ``pgp:1A2B...`` -> ("pgp", "PGP 1A2B3C4D…")."""
    kind, _, rest = identifier.partition(":")
    if kind == "pgp":
        return "pgp", f"PGP {rest[:8]}…"
    if kind == "contact":
        platform, _, handle = rest.partition(":")
        return "contact", f"{platform} @{handle}"
    chain, _, address = rest.partition(":")
    return "wallet", f"{chain} wallet {address[:10]}…"


def _shingles(text: str) -> set[int]:
    words = [w.casefold() for w in _WORDS.findall(text[:20_000])]
    return {hash(tuple(words[i : i + 5])) for i in range(max(len(words) - 4, 1))} if words else set()


def _alias_of(listing: Listing) -> tuple[str, str | None] | None:
    if listing.vendor is None or not listing.vendor.name:
        return None
    return listing.vendor.name, listing.vendor.market or listing.market


def identity_graph(
    store: ListingStore, name: str, market: str | None = None, merges: list[Merge] | None = None
) -> IdentityGraph | None:
    """The graph around vendor ``name`` (on ``market``, or on every market): the aliases linked to
    it, the same-name aliases elsewhere, and the aliases analysts merged with any of them."""
    merges = merges or []
    seeds = {a for a in map(_alias_of, store.scan(SearchQuery(entities=[f"vendor:{norm_vendor(name)}"]))) if a}
    if market:
        start = {a for a in seeds if a[1] == market}
        if not start:
            return None
    else:
        start = set(seeds)
    if not seeds:
        return None
    listings: dict[str, Listing] = {}
    aliases: set[tuple[str, str | None]] = set(seeds)
    truncated = False
    pending = sorted(seeds, key=lambda a: (a not in start, a[0], a[1] or ""))
    done: set[tuple[str, str | None]] = set()
    while pending and len(done) < MAX_NODES:
        alias = pending.pop(0)
        if alias in done:
            continue
        done.add(alias)
        entity = resolve_vendor(store, alias[0], alias[1])
        if entity is None:
            continue
        truncated = truncated or entity.truncated
        for listing in entity.listings:
            listings.setdefault(listing.id, listing)
        for found in entity.aliases:
            key = (found.name, found.market)
            if key not in aliases:
                aliases.add(key)
        # an alias merged by an analyst with one in the graph joins it (and is expanded in turn)
        for merge in merges:
            for here, there in ((merge.a, merge.b), (merge.b, merge.a)):
                if here == alias_key(*alias) and there not in {alias_key(*a) for a in aliases}:
                    other = _parse_key(there)
                    aliases.add(other)
                    pending.append(other)
    truncated = truncated or bool(pending)
    return _build(name, market, listings, aliases, merges, truncated)


def _parse_key(key: str) -> tuple[str, str | None]:
    name, _, market = key.rpartition("@")
    return name, (None if market == "-" else market)


def _build(
    name: str,
    market: str | None,
    listings: dict[str, Listing],
    aliases: set[tuple[str, str | None]],
    merges: list[Merge],
    truncated: bool,
) -> IdentityGraph:
    keys = {alias_key(*a): a for a in aliases}
    counts: dict[str, int] = dict.fromkeys(keys, 0)
    by_alias: dict[str, list[Listing]] = {k: [] for k in keys}
    carriers: dict[str, dict[str, int]] = {}  # identifier -> alias key -> listings
    for listing in listings.values():
        alias = _alias_of(listing)
        if alias is None or alias_key(*alias) not in keys:
            continue
        key = alias_key(*alias)
        counts[key] += 1
        by_alias[key].append(listing)
        for ident in identifiers(listing):
            carriers.setdefault(ident, {})
            carriers[ident][key] = carriers[ident].get(key, 0) + 1
    edges: dict[tuple[str, str, str], IdentityEdge] = {}

    def add(a: str, b: str, kind: str, reason: str) -> None:
        a, b = sorted((a, b))
        if a != b and (a, b, reason) not in edges:
            edges[(a, b, reason)] = IdentityEdge(a=a, b=b, kind=kind, reason=reason, strong=kind in STRONG)

    for ident, who in sorted(carriers.items()):
        if len(who) < 2 or len(who) > MAX_ALIASES_PER_IDENTIFIER:
            continue
        kind, label = _short(ident)
        ordered = sorted(who)
        for i, a in enumerate(ordered):
            for b in ordered[i + 1 :]:
                add(a, b, kind, f"shares {label} on {who[a] + who[b]} listings")
    shingles = {k: [_shingles(f"{x.title} {x.text}") for x in v[:MAX_LISTINGS_PER_ALIAS]] for k, v in by_alias.items()}
    ordered_keys = sorted(keys)
    for i, a in enumerate(ordered_keys):
        for b in ordered_keys[i + 1 :]:
            pairs = sum(
                1 for sa in shingles[a] for sb in shingles[b] if sa and sb and len(sa & sb) / len(sa | sb) >= NEAR_DUP
            )
            if pairs:
                add(a, b, "text", f"near-duplicate listing text ({pairs} listing pair{'s' if pairs > 1 else ''})")
    for merge in merges:
        if merge.a in keys and merge.b in keys:
            note = f": {merge.note}" if merge.note else ""
            add(merge.a, merge.b, "merge", f"merged by analyst {merge.by}{note}")
    identity = _components(ordered_keys, [e for e in edges.values() if e.strong])
    for i, a in enumerate(ordered_keys):
        for b in ordered_keys[i + 1 :]:
            if identity[a] != identity[b] and norm_vendor(keys[a][0]) == norm_vendor(keys[b][0]):
                add(a, b, "same_name", "same name only")
    groups: dict[int, list[str]] = {}
    for key in ordered_keys:
        groups.setdefault(identity[key], []).append(key)
    start = alias_key(name, market) if market else None
    ordered_groups = sorted(groups.values(), key=lambda g: (start not in g, -sum(counts[k] for k in g), g[0]))
    graph = IdentityGraph(name=name, market=market, truncated=truncated, identities=ordered_groups)
    graph.width = max(320, 300 * len(ordered_groups))
    for number, group in enumerate(ordered_groups):
        cx, cy = 150 + 300 * number, graph.height / 2
        radius = 0 if len(group) == 1 else 100
        for j, key in enumerate(group):
            angle = 2 * math.pi * j / len(group) - math.pi / 2
            graph.nodes.append(
                IdentityNode(
                    key=key,
                    name=keys[key][0],
                    market=keys[key][1],
                    listings=counts[key],
                    identity=number,
                    x=round(cx + radius * math.cos(angle), 1),
                    y=round(cy + radius * math.sin(angle), 1),
                )
            )
    graph.edges = sorted(edges.values(), key=lambda e: (not e.strong, e.a, e.b, e.reason))
    return graph


def _components(keys: list[str], edges: list[IdentityEdge]) -> dict[str, int]:
    parent = {k: k for k in keys}

    def find(k: str) -> str:
        while parent[k] != k:
            parent[k] = parent[parent[k]]
            k = parent[k]
        return k

    for edge in edges:
        parent[find(edge.a)] = find(edge.b)
    roots: dict[str, int] = {}
    return {k: roots.setdefault(find(k), len(roots)) for k in keys}
