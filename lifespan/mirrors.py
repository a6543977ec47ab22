"""Signed mirror lists and warrant canaries (dark.fail's Onion Mirror Guidelines).

A market following the guidelines serves, at each of its addresses:
* ``/pgp.txt``: its PGP public key;
* ``/mirrors.txt``: a PGP clear-signed list of its official onion addresses;
* ``/canary.txt``: a PGP clear-signed statement that it still controls its key and servers, dated,
  refreshed at least every 14 days (``lifespan.canary_max_age_days``).

:func:`verify_mirror_files` checks the three with a real OpenPGP implementation (PGPy): the
signatures must verify against the key from ``pgp.txt``; the mirror addresses are read only from
the signed text; the canary's date must be recent.  The key itself is pinned on first use per
market: a later list signed by another key is flagged, since a phishing clone serves its own key.
"""

from __future__ import annotations

import re
import time
import warnings
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import pgpy

from extract.onion import onion_hosts_in
from lifespan.fetch import FetchError

if TYPE_CHECKING:
    from lifespan.probes import Prober

MAX_FILE_BYTES = 256 * 1024

_MONTHS = {
    m: i
    for i, m in enumerate(["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"], start=1)
}
_ISO_DATE = re.compile(r"\b(20\d\d)-(\d\d)-(\d\d)\b")
_TEXT_DATE = re.compile(
    r"\b(\d{1,2})\s+([A-Za-z]{3})[a-z]*\.?,?\s+(20\d\d)\b|\b([A-Za-z]{3})[a-z]*\.?\s+(\d{1,2})(?:st|nd|rd|th)?,?\s+(20\d\d)\b"
)


@dataclass
class SignedText:
    """The outcome of checking one clear-signed file."""

    present: bool = False
    signature_valid: bool = False
    signer_key_id: str | None = None
    signed_at: float | None = None
    text: str = ""
    error: str | None = None


@dataclass
class MirrorVerification:
    """All checks of one market's mirror files; ``ok`` only when every check passed."""

    key_fingerprint: str | None = None
    key_error: str | None = None
    mirrors: SignedText = field(default_factory=SignedText)
    canary: SignedText = field(default_factory=SignedText)
    signed_hosts: list[str] = field(default_factory=list)
    canary_date: float | None = None
    canary_age_days: float | None = None
    canary_fresh: bool = False
    pinned_fingerprint: str | None = None
    key_changed: bool = False
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["ok"] = self.ok
        for part in ("mirrors", "canary"):
            data[part]["text"] = data[part]["text"][:4000]
        return data


def _load_key(pgp_txt: str) -> Any:
    key, _ = pgpy.PGPKey.from_blob(pgp_txt)
    return key.pubkey if key.is_public is False else key


def check_signed(key: Any, blob: str | None) -> SignedText:
    """Verify a clear-signed message against ``key``; the text is what the signature covers."""

    out = SignedText(present=bool(blob))
    if not blob:
        out.error = "missing"
        return out
    try:
        message = pgpy.PGPMessage.from_blob(blob[:MAX_FILE_BYTES])
    except Exception as exc:  # noqa: BLE001 - any parse failure is a failed check
        out.error = f"not an OpenPGP message: {type(exc).__name__}"
        return out
    if not message.is_signed:
        out.error = "not signed"
        return out
    text = message.message
    out.text = text.decode("utf-8", "replace") if isinstance(text, (bytes, bytearray)) else str(text)
    sigs = list(message.signatures)
    if sigs:
        out.signer_key_id = sigs[0].signer
        created = sigs[0].created
        if created is not None:
            out.signed_at = created.replace(tzinfo=created.tzinfo or UTC).timestamp()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # PGPy's "not yet implemented" notices on every verify
            verified = key.verify(message)
        out.signature_valid = bool(verified)
        if not out.signature_valid:
            out.error = "signature does not verify against pgp.txt"
    except Exception as exc:  # noqa: BLE001 - e.g. signed by another key
        out.error = f"signature check failed: {exc}"[:300]
    return out


def canary_date(text: str, now: float) -> float | None:
    """The latest date written in the canary text that is not in the future (1 day grace)."""
    dates: list[float] = []
    for y, m, d in _ISO_DATE.findall(text):
        try:
            dates.append(datetime(int(y), int(m), int(d), tzinfo=UTC).timestamp())
        except ValueError:
            continue
    for m in _TEXT_DATE.finditer(text):
        day, mon, year = (m.group(1), m.group(2), m.group(3)) if m.group(1) else (m.group(5), m.group(4), m.group(6))
        month = _MONTHS.get(mon.lower()[:3])
        if month:
            try:
                dates.append(datetime(int(year), month, int(day), tzinfo=UTC).timestamp())
            except ValueError:
                continue
    valid = [d for d in dates if d <= now + 86400]
    return max(valid) if valid else None


def verify_mirror_files(
    pgp_txt: str | None,
    mirrors_txt: str | None,
    canary_txt: str | None,
    *,
    now: float | None = None,
    max_age_days: int = 14,
    pinned_fingerprint: str | None = None,
) -> MirrorVerification:
    """Check a market's pgp.txt, mirrors.txt and canary.txt; every failure lands in ``problems``."""
    now = time.time() if now is None else now
    result = MirrorVerification(pinned_fingerprint=pinned_fingerprint)
    if not pgp_txt:
        result.key_error = "pgp.txt missing"
        result.problems.append("pgp.txt missing")
        return result
    try:
        key = _load_key(pgp_txt[:MAX_FILE_BYTES])
        result.key_fingerprint = str(key.fingerprint).replace(" ", "")
    except Exception as exc:  # noqa: BLE001 - any parse failure of a hostile key file is a finding
        result.key_error = f"pgp.txt is not an OpenPGP key: {type(exc).__name__}"
        result.problems.append(result.key_error)
        return result
    if pinned_fingerprint and pinned_fingerprint != result.key_fingerprint:
        result.key_changed = True
        result.problems.append(f"key changed: pinned {pinned_fingerprint}, served {result.key_fingerprint}")
    result.mirrors = check_signed(key, mirrors_txt)
    if not result.mirrors.signature_valid:
        result.problems.append(f"mirrors.txt: {result.mirrors.error}")
    else:
        result.signed_hosts = onion_hosts_in(result.mirrors.text)
        if not result.signed_hosts:
            result.problems.append("mirrors.txt: signed text lists no onion address")
    result.canary = check_signed(key, canary_txt)
    if not result.canary.signature_valid:
        result.problems.append(f"canary.txt: {result.canary.error}")
    else:
        date = canary_date(result.canary.text, now)
        if date is None:
            date = result.canary.signed_at
        result.canary_date = date
        if date is None:
            result.problems.append("canary.txt: no date")
        else:
            result.canary_age_days = (now - date) / 86400
            result.canary_fresh = result.canary_age_days <= max_age_days
            if not result.canary_fresh:
                result.problems.append(
                    f"canary.txt: expired ({result.canary_age_days:.0f} days old, limit {max_age_days})"
                )
    return result


def raise_mirror_signals(
    prober: Prober, market_id: str, result: MirrorVerification, fetch_errors: dict[str, str], now: float
) -> list[str]:
    """A failed check changes no state, but is never silent: one signal per finding (a key
    change, a stale canary, any other failure), listed with the market's transitions."""
    source = f"http://{prober.store.get_market(market_id).primary_host}/"  # type: ignore[union-attr]
    raised: list[str] = []
    other = [p for p in result.problems if not p.startswith("key changed") and not p.startswith("canary.txt: expired")]
    if result.key_changed:
        problem = next(p for p in result.problems if p.startswith("key changed"))
        prober.store.add_signal(market_id, "key_changed", source=source, detail=problem, at=now)
        raised.append("key_changed")
    if result.canary.signature_valid and result.canary_date is not None and not result.canary_fresh:
        detail = f"canary {result.canary_age_days:.0f} days old (limit {prober.settings.lifespan.canary_max_age_days})"
        prober.store.add_signal(market_id, "canary_stale", source=source, detail=detail, at=now)
        raised.append("canary_stale")
    if other:
        errors = [f"{name}: {err}" for name, err in fetch_errors.items()]
        prober.store.add_signal(
            market_id, "mirror_check_failed", source=source, detail="; ".join(other + errors), at=now
        )
        raised.append("mirror_check_failed")
    return raised


def check_market_mirrors(prober: Prober, market_id: str) -> MirrorVerification:
    """Fetch and verify a market's mirror files through Tor, record the check, update mirrors.

    Valid signed addresses become verified mirrors; clones (see :mod:`lifespan.clones`)
    missing from a valid signed list are flagged as likely phishing.
    """

    store = prober.store
    market = store.get_market(market_id)
    if market is None or not market.primary_host:
        raise KeyError(f"unknown market {market_id!r} or no address")
    now = prober.clock()
    files: dict[str, str | None] = {}
    fetch_errors: dict[str, str] = {}
    paths = {
        "pgp.txt": "/pgp.txt",
        "mirrors.txt": (market.markers.get("mirrors_path") or ["/mirrors.txt"])[0],
        "canary.txt": "/canary.txt",
    }
    for name, path in paths.items():
        try:
            resp = prober.fetch(f"http://{market.primary_host}{path}", market_id, max_bytes=MAX_FILE_BYTES)
            files[name] = resp.text() if resp.status == 200 else None
            if resp.status != 200:
                fetch_errors[name] = f"HTTP {resp.status}"
        except FetchError as exc:
            files[name] = None
            fetch_errors[name] = str(exc)[:200]
    pinned = next(
        (c.get("key_fingerprint") for c in store.mirror_checks(market_id) if c.get("ok") and c.get("key_fingerprint")),
        None,
    )
    result = verify_mirror_files(
        files["pgp.txt"],
        files["mirrors.txt"],
        files["canary.txt"],
        now=now,
        max_age_days=prober.settings.lifespan.canary_max_age_days,
        pinned_fingerprint=pinned,
    )
    data = {**result.as_dict(), "fetch_errors": fetch_errors, "host": market.primary_host}
    store.add_mirror_check(market_id, now, result.ok, data)
    raise_mirror_signals(prober, market_id, result, fetch_errors, now)
    if result.mirrors.signature_valid and not result.key_changed:
        signed = set(result.signed_hosts)
        for host in result.signed_hosts:
            store.add_mirror(market_id, host, "signed", verified=True, phishing=False, at=now)
        for mirror in store.mirrors(market_id):
            if mirror.host not in signed and mirror.source == "clone":
                store.add_mirror(
                    market_id,
                    mirror.host,
                    mirror.source,
                    phishing=True,
                    verified=False,
                    note="not in the market's signed mirrors.txt",
                    at=now,
                )
    return result
