"""OpenPGP fingerprints: written out in a post, or computed from an armoured public key block."""

from __future__ import annotations

import logging
import re
import warnings

from extract.text import cap

with warnings.catch_warnings():  # pgpy's import warns about deprecated cryptography APIs
    warnings.simplefilter("ignore")
    import pgpy

log = logging.getLogger(__name__)

_PGP_FPR = re.compile(r"(?<![0-9A-Za-z])(?<!0x)((?:[0-9A-Fa-f]{4}[ \u00a0]{0,2}){9}[0-9A-Fa-f]{4})(?![0-9A-Za-z])")
MAX_KEY_CHARS = 200_000  # a real key block is a few kB; a larger one is not parsed
_PGP_BLOCK = re.compile(r"-----BEGIN PGP PUBLIC KEY BLOCK-----.*?-----END PGP PUBLIC KEY BLOCK-----", re.S)


def pgp_spans(text: str) -> list[tuple[str, int, int]]:
    """(fingerprint, start, end) of every fingerprint and key block in ``text``, in order found."""
    found: list[tuple[str, int, int]] = []
    seen: set[str] = set()
    for m in _PGP_FPR.finditer(text):
        fpr = re.sub(r"\s", "", m.group(1)).upper()
        if fpr.isdigit() or fpr.isalpha() or fpr in seen:
            continue
        seen.add(fpr)
        found.append((fpr, m.start(1), m.end(1)))
    for m in _PGP_BLOCK.finditer(text):
        key_fpr = fingerprint_of_key(m.group(0))
        if key_fpr and key_fpr not in seen:
            seen.add(key_fpr)
            found.append((key_fpr, m.start(), m.end()))
    return found


def fingerprint_of_key(armored: str) -> str | None:
    """The fingerprint of an armoured OpenPGP public key (parsed, never guessed from the text),
    upper-case without spaces; ``None`` for a block that is not a readable key.  Vendors paste
    their key into listings and profile pages; a broken or hostile block is data, not a crash."""
    armored = armored.strip()
    if "BEGIN PGP PUBLIC KEY BLOCK" not in armored or len(armored) > MAX_KEY_CHARS:
        return None
    try:
        with warnings.catch_warnings():  # pgpy warns about every unusual key it still reads
            warnings.simplefilter("ignore")
            key, _ = pgpy.PGPKey.from_blob(armored)
        return str(key.fingerprint).replace(" ", "").upper()
    except Exception as exc:  # noqa: BLE001 - any parse failure of a hostile block means "no key"
        log.info("unreadable PGP key block: %s", exc)
        return None


def extract_pgp_fingerprints(text: str) -> list[str]:
    """40-hex-digit OpenPGP v4 fingerprints (grouped or not), upper-case without spaces; also the
    fingerprint of any armoured public key block in the text."""
    return [fpr for fpr, _, _ in pgp_spans(cap(text))]
