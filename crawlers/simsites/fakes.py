"""Fictional people and keys for the extra simulated markets (``cinder``, ``steppe``).

Every vendor name, messenger handle and Session id here is made up from word lists and a seed:
none is taken from a real market or a data set, and every handle carries a ``sim`` marker so a
reader (or a takedown) can never mistake it for a real one.  PGP keys are real OpenPGP keys
(generated on the spot, so their fingerprints differ between runs, as the bundled markets' do);
:func:`broken_key_block` makes armoured text that looks like a key and does not parse.
"""

from __future__ import annotations

import random
import re
import warnings
from dataclasses import dataclass, field
from html import unescape
from typing import Any

with warnings.catch_warnings():  # pgpy's import warns about deprecated cryptography APIs
    warnings.simplefilter("ignore")
    import pgpy

from crawlers.simsites.data import new_pgp_key

_ADJECTIVES = ("Frosty", "Quiet", "Amber", "Lunar", "Velvet", "Copper", "Hollow", "Silent", "Crimson", "Gentle")
_NOUNS = ("Owl", "Lantern", "Harbor", "Fox", "Meadow", "Anchor", "Comet", "Willow", "Badger", "Orchid")


@dataclass(frozen=True)
class FakeContact:
    """A contact as a page shows it (``shown``) and as a reader would record it (``kind``, ``handle``)."""

    kind: str
    handle: str
    shown: str


@dataclass
class FakeVendor:
    """A vendor (or shop) page's ground truth."""

    name: str
    path: str
    rating: float | None
    sales: int | None
    contacts: list[FakeContact] = field(default_factory=list)
    pgp_key: str | None = None  # the armoured text the page shows (parseable or not)
    pgp_fingerprint: str | None = None  # None when there is no key or it does not parse
    joined: str | None = None
    status: int = 200  # what the vendor page answers (a banned vendor's: 404)


def vendor_names(rng: random.Random, count: int) -> list[str]:
    """``count`` distinct made-up vendor names (``QuietLantern``, ``AmberFox_7`` ...)."""
    names: list[str] = []
    while len(names) < count:
        name = rng.choice(_ADJECTIVES) + rng.choice(_NOUNS)
        if rng.random() < 0.3:
            name += f"_{rng.randint(2, 99)}"
        if name not in names:
            names.append(name)
    return names


def session_id(rng: random.Random) -> str:
    """A Session messenger id: ``05`` and 64 hex digits (random: belongs to no one)."""
    return "05" + "".join(rng.choice("0123456789abcdef") for _ in range(64))


def threema_id(rng: random.Random) -> str:
    return "".join(rng.choice("ABCDEFGHJKLMNPQRSTUVWXYZ23456789") for _ in range(8))


def handle_for(name: str, suffix: str = "sim") -> str:
    """A messenger handle that says it is simulated: ``quietlantern_sim``."""
    base = "".join(ch for ch in name.lower() if ch.isalnum() or ch == "_")[:20]
    return f"{base}_{suffix}"


def pgp_key_block(uid: str) -> tuple[str, str]:
    """(armoured public key, fingerprint upper-case without spaces) of a fresh Ed25519 key."""
    key = new_pgp_key(uid)
    return str(key.pubkey), str(key.fingerprint).replace(" ", "").upper()


def broken_key_block(uid: str, rng: random.Random) -> str:
    """Armoured text that looks like a public key and is not one: a real key's block with lines
    lost in a copy-paste (the body no longer decodes to a key).  Checked to fail parsing."""
    armoured, _ = pgp_key_block(uid)
    lines = armoured.strip().splitlines()
    body = [i for i, line in enumerate(lines) if line and not line.startswith(("-----", "=")) and ":" not in line]
    candidates = [[line for i, line in enumerate(lines) if i != drop] for drop in body]  # one line lost
    candidates += [lines[: cut + 1] + lines[-1:] for cut in body[:-1]]  # truncated, checksum lost
    rng.shuffle(candidates)
    for candidate in candidates:
        broken = "\n".join(candidate)
        if not _parses(broken):
            return broken
    return "\n".join(lines[:2] + lines[-1:])  # no body at all: never a key


def _parses(armoured: str) -> bool:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            pgpy.PGPKey.from_blob(armoured)
    except Exception:  # noqa: BLE001 - any failure means "not a key", which is what we want
        return False
    return True


def plain_text(fragment_html: str) -> str:
    """The text a reader gets from a small HTML fragment (inline tags, entities): tags dropped,
    entities decoded, white space squeezed.  The fragments here never glue words to tags."""
    return " ".join(unescape(re.sub(r"<[^>]+>", " ", fragment_html)).split())


def vendor_truth(vendor: FakeVendor, base_url: str) -> dict[str, Any]:
    """A vendor page's ground truth as the tests compare it (``shown``: the contact as written)."""
    return {
        "name": vendor.name,
        "url": base_url + vendor.path,
        "rating": vendor.rating,
        "sales": vendor.sales,
        "contacts": [{"kind": c.kind, "handle": c.handle, "shown": c.shown} for c in vendor.contacts],
        "pgp_key": vendor.pgp_key,
        "pgp_fingerprint": vendor.pgp_fingerprint,
        "status": vendor.status,
    }
