"""Cryptocurrency addresses: Bitcoin (base58check and bech32/bech32m, checksums verified in
strict mode), Litecoin bech32, Ethereum and Monero."""

from __future__ import annotations

import hashlib
import re

from dragnet.documents import CryptoAddress
from extract.text import cap

_B58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
_BTC_LEGACY = re.compile(r"(?<![A-Za-z0-9])([13][1-9A-HJ-NP-Za-km-z]{25,34})(?![A-Za-z0-9])")
_BECH32 = re.compile(r"(?<![A-Za-z0-9])((?:bc1|BC1|ltc1|LTC1)[02-9ac-hj-np-zAC-HJ-NP-Z]{8,87})(?![A-Za-z0-9])")
_ETH = re.compile(r"(?<![A-Za-z0-9])(0x[0-9a-fA-F]{40})(?![0-9a-fA-F])")
_XMR = re.compile(r"(?<![A-Za-z0-9])([48][1-9A-HJ-NP-Za-km-z]{94}(?:[1-9A-HJ-NP-Za-km-z]{11})?)(?![A-Za-z0-9])")


def _base58check_ok(address: str) -> bool:
    num = 0
    for ch in address:
        num = num * 58 + _B58.index(ch)
    raw = num.to_bytes(25, "big") if num.bit_length() <= 200 else b""
    if len(raw) != 25:
        return False
    return hashlib.sha256(hashlib.sha256(raw[:21]).digest()).digest()[:4] == raw[21:]


_BECH32_CHARSET = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"


def _bech32_ok(address: str) -> bool:
    if address.lower() != address and address.upper() != address:
        return False
    address = address.lower()
    hrp, _, data = address.rpartition("1")
    values = [_BECH32_CHARSET.find(c) for c in data]
    if not hrp or len(values) < 6 or -1 in values:
        return False
    generator = [0x3B6A57B2, 0x26508E6D, 0x1EA119FA, 0x3D4233DD, 0x2A1462B3]
    chk = 1
    for v in [ord(c) >> 5 for c in hrp] + [0] + [ord(c) & 31 for c in hrp] + values:
        top = chk >> 25
        chk = (chk & 0x1FFFFFF) << 5 ^ v
        for i in range(5):
            chk ^= generator[i] if ((top >> i) & 1) else 0
    return chk in (1, 0x2BC830A3)  # bech32 (segwit v0) or bech32m (taproot)


def crypto_spans(text: str, strict: bool) -> list[tuple[CryptoAddress, int, int]]:
    found: list[tuple[CryptoAddress, int, int]] = []
    seen: set[str] = set()

    def add(chain: str, address: str, start: int, end: int) -> None:
        if address not in seen:
            seen.add(address)
            found.append((CryptoAddress(chain=chain, address=address), start, end))

    for m in _BECH32.finditer(text):
        addr = m.group(1)
        if not strict or _bech32_ok(addr):
            add("ltc" if addr.lower().startswith("ltc1") else "btc", addr.lower(), m.start(1), m.end(1))
    for m in _BTC_LEGACY.finditer(text):
        addr = m.group(1)
        valid = _base58check_ok(addr)
        # Without a checksum, demand the look of an address (mixed case and digits).
        plausible = (
            any(c.isdigit() for c in addr[1:]) and any(c.isupper() for c in addr[1:]) and any(c.islower() for c in addr)
        )
        if valid or (not strict and plausible):
            add("btc", addr, m.start(1), m.end(1))
    for m in _ETH.finditer(text):
        add("eth", m.group(1), m.start(1), m.end(1))
    for m in _XMR.finditer(text):
        add("xmr", m.group(1), m.start(1), m.end(1))
    return sorted(found, key=lambda item: item[1])


def extract_crypto(text: str, *, strict: bool = False) -> list[CryptoAddress]:
    """Bitcoin (legacy base58 and bech32/bech32m), Litecoin bech32, Ethereum and Monero addresses.

    ``strict=True`` keeps only Bitcoin addresses whose checksum verifies; the default also keeps
    address-shaped strings, because sellers mistype and mirrors mangle, and an analyst linking
    wallets across markets wants to see near-misses too.
    """
    return [addr for addr, _, _ in crypto_spans(cap(text), strict)]
