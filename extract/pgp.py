"""OpenPGP fingerprints: written out in a post, or computed from an armoured public key block."""

from __future__ import annotations

import base64
import binascii
import hashlib
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


# RFC 4880 5.5.2: the key material of a v4 public key, by algorithm: (OID?, MPI count, KDF?)
_KEY_MATERIAL = {
    1: (False, 2, False),  # RSA
    2: (False, 2, False),
    3: (False, 2, False),
    16: (False, 3, False),  # Elgamal
    17: (False, 4, False),  # DSA
    18: (True, 1, True),  # ECDH: curve OID, point, KDF parameters
    19: (True, 1, False),  # ECDSA
    22: (True, 1, False),  # EdDSA
}


def _crc24(data: bytes) -> int:
    crc = 0xB704CE
    for byte in data:
        crc ^= byte << 16
        for _ in range(8):
            crc <<= 1
            if crc & 0x1000000:
                crc ^= 0x1864CFB
    return crc & 0xFFFFFF


def _dearmor(armored: str) -> bytes | None:
    """The binary of an armoured block whose checksum (when given) matches, else ``None``."""
    lines = armored.splitlines()
    try:
        start = next(i for i, line in enumerate(lines) if line.startswith("-----BEGIN PGP PUBLIC KEY BLOCK-----"))
        end = next(i for i in range(start + 1, len(lines)) if lines[i].startswith("-----END PGP PUBLIC KEY BLOCK"))
    except StopIteration:
        return None
    body = [line.strip() for line in lines[start + 1 : end]]
    while body and ":" in body[0]:  # armor headers (Version: ..., Comment: ...)
        body.pop(0)
    checksum = None
    if body and body[-1].startswith("="):
        checksum = body.pop()[1:]
    try:
        data = base64.b64decode("".join(body), validate=True)
        if checksum is not None and int.from_bytes(base64.b64decode(checksum, validate=True), "big") != _crc24(data):
            return None
    except (binascii.Error, ValueError):
        return None
    return data or None


def _packets(data: bytes) -> list[tuple[int, bytes]] | None:
    """(tag, body) of every packet, or ``None`` when the framing does not add up exactly."""
    packets, pos = [], 0
    while pos < len(data):
        head = data[pos]
        if not head & 0x80:
            return None
        if head & 0x40:  # new format
            tag, pos = head & 0x3F, pos + 1
            if pos >= len(data):
                return None
            first = data[pos]
            if first < 192:
                length, pos = first, pos + 1
            elif first < 224 and pos + 1 < len(data):
                length, pos = ((first - 192) << 8) + data[pos + 1] + 192, pos + 2
            elif first == 255 and pos + 4 < len(data):
                length, pos = int.from_bytes(data[pos + 1 : pos + 5], "big"), pos + 5
            else:
                return None  # partial lengths: never in a key
        else:
            tag, size = (head >> 2) & 0x0F, {0: 1, 1: 2, 2: 4}.get(head & 0x03)
            if size is None or pos + 1 + size > len(data):
                return None
            length, pos = int.from_bytes(data[pos + 1 : pos + 1 + size], "big"), pos + 1 + size
        if pos + length > len(data):
            return None
        packets.append((tag, data[pos : pos + length]))
        pos += length
    return packets


def _v4_key_material_ends(body: bytes) -> bool:
    """Whether a v4 public-key packet body holds exactly the key material of its algorithm."""
    layout = _KEY_MATERIAL.get(body[5]) if len(body) > 6 else None
    if layout is None:
        return False
    has_oid, mpis, has_kdf = layout
    pos = 6
    if has_oid:
        pos += 1 + body[pos]
    for _ in range(mpis):
        if pos + 2 > len(body):
            return False
        bits = int.from_bytes(body[pos : pos + 2], "big")
        pos += 2 + (bits + 7) // 8
    if has_kdf:
        if pos >= len(body):
            return False
        pos += 1 + body[pos]
    return pos == len(body)


def _v4_fingerprint(armored: str) -> str | None:
    """The fingerprint of a well-formed v4 key, computed as RFC 4880 12.2 defines it (SHA-1 of
    the primary key packet); ``None`` for anything else, which pgpy then reads.  pgpy takes tens
    of milliseconds a key (pure Python); this takes tens of microseconds, at a crawl's every
    vendor page."""
    data = _dearmor(armored)
    packets = _packets(data) if data else None
    if not packets or packets[0][0] != 6:
        return None
    body = packets[0][1]
    if body[0] != 4 or len(body) > 0xFFFF or not _v4_key_material_ends(body):
        return None
    return hashlib.sha1(b"\x99" + len(body).to_bytes(2, "big") + body, usedforsecurity=False).hexdigest().upper()


def fingerprint_of_key(armored: str) -> str | None:
    """The fingerprint of an armoured OpenPGP public key (parsed, never guessed from the text),
    upper-case without spaces; ``None`` for a block that is not a readable key.  Vendors paste
    their key into listings and profile pages; a broken or hostile block is data, not a crash."""
    armored = armored.strip()
    if "BEGIN PGP PUBLIC KEY BLOCK" not in armored or len(armored) > MAX_KEY_CHARS:
        return None
    fast = _v4_fingerprint(armored)
    if fast is not None:
        return fast
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
