"""Rule-based extractors: the structured facts in a post (contacts, crypto addresses, PGP
fingerprints, price, quantity) and the evidence that explains a verdict (drug names and slang
with misspellings and leetspeak, emoji codes, offer, shipping and escrow terms).

Why rules beside a transformer: a takedown notice has to point at words in the post, the
crawler needs typed fields (price, wallets, handles) for vendor linking, and rules are
auditable.  The model decides; these functions say why.  Everything here is pure Python, has
no model dependency and is safe on hostile input (bounded input size, linear-time patterns).
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache

from dragnet.documents import SUBSTANCES, Contact, CryptoAddress, Evidence, Price, Quantity

from classifier.lexicon import (
    AMBIGUOUS,
    EMOJI_CODES,
    ESCROW_TERMS,
    OFFER_TERMS,
    SHIPPING_TERMS,
    SUBSTANCE_TERMS,
)

__all__ = [
    "extract_contacts",
    "extract_crypto",
    "extract_pgp_fingerprints",
    "extract_price",
    "extract_prices",
    "extract_quantity",
    "find_evidence",
    "substance_hits",
    "explain",
    "MAX_TEXT_CHARS",
]

# Scraped text is hostile and can be huge; the extractors look at the first MAX_TEXT_CHARS only.
MAX_TEXT_CHARS = 200_000


def _cap(text: str | None) -> str:
    if not text:
        return ""
    return text[:MAX_TEXT_CHARS]


# --------------------------------------------------------------------------------------------
# Normalisation: same length as the input, so spans found in the normal form point into it.
# --------------------------------------------------------------------------------------------
_LEET = {"0": "o", "1": "i", "3": "e", "4": "a", "5": "s", "7": "t", "@": "a", "$": "s", "!": "i", "|": "l", "€": "e"}


@lru_cache(maxsize=4096)
def _fold_char(ch: str) -> str:
    """Lower-case and strip diacritics from one character, keeping exactly one character."""
    low = ch.lower()
    if len(low) != 1:
        return ch
    base = unicodedata.normalize("NFD", low)[0]
    return base if base.isalnum() or base in " -" else low


class _FoldTable(dict):  # type: ignore[type-arg]
    """``str.translate`` table filled on first sight of a code point: the per-character fold
    runs in C for every character seen before (all of them, after the first few posts)."""

    def __missing__(self, code: int) -> str:
        folded = _fold_char(chr(code))
        self[code] = folded
        return folded


_FOLD_TABLE = _FoldTable()


def _fold(text: str) -> str:
    if text.isascii():
        return text.lower()  # the same as the per-character fold for ASCII, and in C
    return text.translate(_FOLD_TABLE)


_LEET_CHAR = re.compile(r"[013457@$!|€]")
_LETTER = re.compile(r"[^\W\d_]")


_LEET_TABLE = str.maketrans(_LEET)
# a whole word holding a leet character: starts only at a word start (so matching stays linear),
# the lazy look-ahead finds the leet character, the possessive run takes the word
_LEET_WORD = re.compile(r"(?<![\w@$!|€])(?=[\w@$!|€]*?[013457@$!|€])[\w@$!|€]++")
_QUANTITY_WORD = re.compile(r"\d+[a-z]{1,3}")


def _deleet_word(m: re.Match[str]) -> str:
    tok = m.group(0)
    if _LETTER.search(tok) is None or _QUANTITY_WORD.fullmatch(tok):  # 10g, 500mg, 3x: quantities
        return tok
    return tok.translate(_LEET_TABLE)


def _deleet(folded: str) -> str:
    """Replace leetspeak digits and symbols inside words that also hold letters ("c0ca1ne")."""
    if _LEET_CHAR.search(folded) is None:
        return folded
    return _LEET_WORD.sub(_deleet_word, folded)


# --------------------------------------------------------------------------------------------
# Lexicon matching
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Term:
    canonical: str
    substance: str
    ambiguous: bool


@lru_cache(maxsize=1)
def _lexicon() -> tuple[dict[str, _Term], re.Pattern[str], dict[str, str]]:
    terms: dict[str, _Term] = {}
    for substance, words in SUBSTANCE_TERMS.items():
        for word in words:
            key = _fold(word)
            terms.setdefault(key, _Term(word, substance, word in AMBIGUOUS or key in AMBIGUOUS))
    alternation = "|".join(re.escape(k) for k in sorted(terms, key=len, reverse=True))
    pattern = re.compile(rf"(?<![\w]){'(?:' + alternation + ')'}(?![\w])", re.UNICODE)
    # Deletion neighbourhood (edit distance 1) of the long, unambiguous single-word terms.
    deletes: dict[str, str] = {}
    for key, term in terms.items():
        if term.ambiguous or len(key) < 6 or " " in key or not key.isalpha():
            continue
        deletes.setdefault(key, key)
        for variant in _deletes(key):
            deletes.setdefault(variant, key)
    return terms, pattern, deletes


def _deletes(word: str) -> set[str]:
    return {word[:i] + word[i + 1:] for i in range(len(word))}


# Real words one edit away from a drug name: never "corrected" into one.
_FUZZY_STOP = frozenset({
    "heroine", "heroines", "cocoa", "morphing", "codeing", "coding", "methane", "speedy", "ketones",
    "ketone", "hashes", "hashed", "mushroomed", "valiums", "xanadu", "percent", "carts", "crystals",
    "opioid", "opiate", "steroid", "cannabis", "ecstatic", "extasis", "marinara", "acidic", "vicious",
    "oxygen", "amphibian", "testosteron", "ketchup", "kerosene", "mexicans", "cocina", "cocaina",
})


@dataclass(frozen=True)
class _Hit:
    start: int
    end: int
    term: _Term
    how: str  # exact, leet, fuzzy, spaced


@lru_cache(maxsize=65536)
def _fuzzy_term(word: str) -> str | None:
    """The long unambiguous term one edit away from ``word``, if any (words repeat across posts,
    so the deletion neighbourhood of each is computed once)."""
    terms, _, deletes = _lexicon()
    if word in terms or word in _FUZZY_STOP:
        return None
    match = deletes.get(word)
    if match is None:
        for variant in _deletes(word):
            match = deletes.get(variant)
            if match is not None:
                break
    return match if match is not None and abs(len(match) - len(word)) <= 1 else None


_SPELLED_OUT = re.compile(r"(?<!\w)(?:\w[.\-_*·•]){3,}\w(?!\w)")
_LONG_WORD = re.compile(r"[^\W\d_]{6,24}")


def _lexicon_hits(text: str, folded: str | None = None) -> list[_Hit]:
    terms, pattern, _ = _lexicon()
    folded = _fold(text) if folded is None else folded
    hits: dict[tuple[int, int], _Hit] = {}
    for m in pattern.finditer(folded):
        hits[(m.start(), m.end())] = _Hit(m.start(), m.end(), terms[m.group(0)], "exact")
    deleeted = _deleet(folded)
    if deleeted != folded:
        for m in pattern.finditer(deleeted):
            if folded[m.start():m.end()] != m.group(0):
                hits.setdefault((m.start(), m.end()), _Hit(m.start(), m.end(), terms[m.group(0)], "leet"))
    # Spelled out with separators: c.o.c.a.i.n.e, k-e-t-a-m-i-n-e
    for m in _SPELLED_OUT.finditer(deleeted):
        joined = re.sub(r"[.\-_*·•]", "", m.group(0))
        if joined in terms:
            hits.setdefault((m.start(), m.end()), _Hit(m.start(), m.end(), terms[joined], "spaced"))
    # Misspellings: edit distance 1 from a long unambiguous term.
    covered = [(h.start, h.end) for h in hits.values()]
    for m in _LONG_WORD.finditer(deleeted):
        match = _fuzzy_term(m.group(0))
        if match is not None and not any(s <= m.start() < e for s, e in covered):
            hits.setdefault((m.start(), m.end()), _Hit(m.start(), m.end(), terms[match], "fuzzy"))
    return sorted(hits.values(), key=lambda h: (h.start, -h.end))


def _phrase_pattern(phrases: Iterable[str]) -> re.Pattern[str]:
    alternation = "|".join(re.escape(_fold(p)) for p in sorted(set(phrases), key=len, reverse=True))
    return re.compile(rf"(?<![\w])(?:{alternation})(?![\w])", re.UNICODE)


_OFFER_RE = _phrase_pattern(OFFER_TERMS)
_SHIPPING_RE = _phrase_pattern(SHIPPING_TERMS)
_ESCROW_RE = _phrase_pattern(ESCROW_TERMS)
_CONTACT_CUE_RE = re.compile(
    r"(?<![\w@])(?:dm|dms|dm me|pm me|inbox me|text me|message me|hmu|tele|telegram|tg|telega|snap|snapchat|"
    r"wickr|wickr me|signal|whatsapp|whats app|threema|session id|kik|телега|телеграм|пиши|пишите|"
    r"escr[ií]beme|schreib mir|[ée]cris-moi|chama no zap|zap)(?![\w])",
    re.IGNORECASE | re.UNICODE,
)


# --------------------------------------------------------------------------------------------
# Contacts
# --------------------------------------------------------------------------------------------
_SEP = r"\s*(?:[:=\-–—>➡→➜👉]+|\bat\b|\bme\b|\bid\b)?\s*"
_HANDLE = r"@?([A-Za-z0-9][A-Za-z0-9_.\-]{2,31}[A-Za-z0-9_])"
_PHONE = r"(\+?\d[\d \-().]{6,18}\d)"

_CONTACT_PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("telegram", re.compile(r"(?:https?://)?(?:t\.me|telegram\.me|telegram\.dog)/([A-Za-z0-9_]{4,32})", re.I)),
    ("whatsapp", re.compile(r"(?:https?://)?wa\.me/(\d{6,15})", re.I)),
    ("session", re.compile(r"(?<![0-9a-fA-F])(05[0-9a-fA-F]{64})(?![0-9a-fA-F])")),
    ("email", re.compile(r"(?<![\w.+-])([A-Za-z0-9][A-Za-z0-9._%+\-]{0,63}@[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)*\.[A-Za-z]{2,24})(?![\w])")),
    ("telegram", re.compile(r"(?<![\w])(?:telegram|tele|tg|telega|телега|телеграм|телеграмм)" + r"\s*(?:[:=\-–—>➡→➜👉]+|\bat\b|\bme\b)?\s*@([A-Za-z][A-Za-z0-9_]{3,31})", re.I)),
    ("telegram", re.compile(r"(?<![\w])(?:telegram|tele|tg|telega|телега|телеграм|телеграмм)\s*[:=\-–—>➡→➜👉]+\s*([A-Za-z][A-Za-z0-9_]{3,31})", re.I)),
    ("wickr", re.compile(r"(?<![\w])wickr(?:\s*me)?(?:\s*id)?" + _SEP + _HANDLE, re.I)),
    ("threema", re.compile(r"(?<![\w])threema(?:\s*id)?" + _SEP + r"([A-Z0-9*]{8})(?![A-Za-z0-9])", re.I)),
    ("session", re.compile(r"(?<![\w])session(?:\s*id)?" + _SEP + r"(05[0-9a-fA-F]{64})", re.I)),
    ("whatsapp", re.compile(r"(?<![\w])(?:whatsapp|whats app|wa|zap|wsp)" + _SEP + _PHONE, re.I)),
    ("signal", re.compile(r"(?<![\w])signal(?:\s*id)?" + _SEP + _PHONE, re.I)),
    ("signal", re.compile(r"(?<![\w])signal(?:\s*id)?\s*[:=\-–—>➡→➜👉]+\s*@?([A-Za-z][A-Za-z0-9_]{2,31}\.\d{2,})", re.I)),
    ("snapchat", re.compile(r"(?<![\w])(?:snapchat|snap|sc)" + r"\s*(?:[:=\-–—>➡→➜👉]+|\bat\b|\bme\b)?\s*@([A-Za-z][A-Za-z0-9_.\-]{2,14})", re.I)),
    ("snapchat", re.compile(r"(?<![\w])(?:snapchat|snap|sc)\s*[:=\-–—>➡→➜👉]+\s*([A-Za-z][A-Za-z0-9_.\-]{2,14})", re.I)),
    ("kik", re.compile(r"(?<![\w])kik" + r"\s*[:=\-–—>➡→➜👉@]+\s*@?([A-Za-z][A-Za-z0-9_.]{1,19})", re.I)),
    ("handle", re.compile(r"(?<![\w])(?:dm|dms|pm|hmu|inbox|message|text|add|contact)\s*(?:me\s*)?(?:on|at|@)?\s*(?:[:=\-–—>➡→➜👉]+\s*)?@([A-Za-z][A-Za-z0-9_.]{2,29})", re.I)),
)


# Substrings (case-folded) without which each contact pattern cannot match: a pattern whose
# trigger is absent is skipped, which saves most of the 16 scans of a typical post.
_CONTACT_TRIGGERS: tuple[tuple[str, ...], ...] = (
    ("t.me/", "telegram.me/", "telegram.dog/"), ("wa.me/",), ("05",), ("@",), ("@",), ("tele", "tg", "телег"),
    ("wickr",), ("threema",), ("session",), ("whatsapp", "whats app", "wa", "zap", "wsp"), ("signal",), ("signal",), ("@",),
    ("snap", "sc"), ("kik",), ("@",),
)
assert len(_CONTACT_TRIGGERS) == len(_CONTACT_PATTERNS)


def _contact_spans(text: str) -> list[tuple[Contact, int, int]]:
    found: list[tuple[Contact, int, int]] = []
    seen: set[tuple[str, str]] = set()
    taken: list[tuple[int, int]] = []
    folded = text.casefold()  # at least every match re.IGNORECASE would allow
    for (kind, pattern), triggers in zip(_CONTACT_PATTERNS, _CONTACT_TRIGGERS):
        if not any(trigger in folded for trigger in triggers):
            continue
        for m in pattern.finditer(text):
            handle = m.group(1).strip().rstrip(".-")
            if kind in {"whatsapp", "signal"} and handle[0] in "+0123456789(":
                handle = re.sub(r"[ \-().]", "", handle)
                if not 7 <= len(handle.lstrip("+")) <= 15:
                    continue
            if kind == "session" or kind == "email":
                handle = handle.lower() if kind == "session" else handle
            if kind == "handle" and any(s <= m.start(1) < e for s, e in taken):
                continue
            if kind == "snapchat" or kind == "telegram" or kind == "handle":
                handle = handle.lstrip("@")
            if kind == "email" and any(s <= m.start(1) < e for s, e in taken):
                continue
            key = (kind, handle.lower())
            if key in seen:
                continue
            seen.add(key)
            taken.append((m.start(1), m.end(1)))
            found.append((Contact(kind=kind, handle=handle), m.start(), m.end()))
    # an email address is also caught by the "@handle" patterns: keep the email reading only
    emails = {c.handle.lower() for c, _, _ in found if c.kind == "email"}
    found = [
        item for item in found
        if item[0].kind == "email" or not any(e.startswith(item[0].handle.lower() + "@") or e.split("@", 1)[1].startswith(item[0].handle.lower()) for e in emails)
    ]
    return sorted(found, key=lambda item: item[1])


def extract_contacts(text: str) -> list[Contact]:
    """Messenger handles, phone numbers and e-mail addresses a seller asks buyers to use.

    Recognises Telegram (``t.me/x``, ``tele: @x``), Wickr, Signal, Snapchat, WhatsApp (numbers,
    ``wa.me``), Session ids, Threema ids, Kik, e-mail addresses, and ``DM @x`` handles.  A bare
    "@name" without a messenger or DM cue is not a contact (it is usually a mention).
    """
    return [contact for contact, _, _ in _contact_spans(_cap(text))]


# --------------------------------------------------------------------------------------------
# Crypto addresses
# --------------------------------------------------------------------------------------------
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


def _crypto_spans(text: str, strict: bool) -> list[tuple[CryptoAddress, int, int]]:
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
        plausible = any(c.isdigit() for c in addr[1:]) and any(c.isupper() for c in addr[1:]) and any(c.islower() for c in addr)
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
    return [addr for addr, _, _ in _crypto_spans(_cap(text), strict)]


# --------------------------------------------------------------------------------------------
# PGP fingerprints
# --------------------------------------------------------------------------------------------
_PGP_FPR = re.compile(
    r"(?<![0-9A-Za-z])(?<!0x)((?:[0-9A-Fa-f]{4}[ \u00a0]{0,2}){9}[0-9A-Fa-f]{4})(?![0-9A-Za-z])"
)
_PGP_BLOCK = re.compile(r"-----BEGIN PGP PUBLIC KEY BLOCK-----.*?-----END PGP PUBLIC KEY BLOCK-----", re.S)


def _pgp_spans(text: str) -> list[tuple[str, int, int]]:
    found: list[tuple[str, int, int]] = []
    seen: set[str] = set()
    for m in _PGP_FPR.finditer(text):
        fpr = re.sub(r"\s", "", m.group(1)).upper()
        if fpr.isdigit() or fpr.isalpha() or fpr in seen:
            continue
        seen.add(fpr)
        found.append((fpr, m.start(1), m.end(1)))
    for m in _PGP_BLOCK.finditer(text):
        fpr = _block_fingerprint(m.group(0)[:64_000])
        if fpr and fpr not in seen:
            seen.add(fpr)
            found.append((fpr, m.start(), m.end()))
    return found


def _block_fingerprint(block: str) -> str | None:
    """Fingerprint of an armoured public key block (vendors paste their key into listings)."""
    try:
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            import pgpy

            key, _ = pgpy.PGPKey.from_blob(block)
        return str(key.fingerprint).replace(" ", "").upper()
    except Exception:  # malformed or hostile block: no fingerprint, never a crash
        return None


def extract_pgp_fingerprints(text: str) -> list[str]:
    """40-hex-digit OpenPGP v4 fingerprints (grouped or not), upper-case without spaces; also the
    fingerprint of any armoured public key block in the text."""
    return [fpr for fpr, _, _ in _pgp_spans(_cap(text))]


# --------------------------------------------------------------------------------------------
# Prices
# --------------------------------------------------------------------------------------------
_NUM = r"(\d{1,3}(?:[ ,.'\u00a0]\d{3})+(?:[.,]\d{1,8})?|\d+(?:[.,]\d{1,8})?)"
_SYMBOLS = {"r$": "BRL", "$": "USD", "us$": "USD", "€": "EUR", "£": "GBP", "₿": "BTC", "฿": "BTC", "₽": "RUB", "₹": "INR", "¥": "JPY"}
_CODES = {
    "usd": "USD", "dollars": "USD", "dollar": "USD", "bucks": "USD", "eur": "EUR", "euro": "EUR", "euros": "EUR",
    "gbp": "GBP", "quid": "GBP", "btc": "BTC", "bitcoin": "BTC", "xmr": "XMR", "monero": "XMR", "eth": "ETH",
    "ltc": "LTC", "rub": "RUB", "руб": "RUB", "рублей": "RUB", "р": "RUB", "brl": "BRL", "reais": "BRL",
    "chf": "CHF", "cad": "CAD", "aud": "AUD", "usdt": "USDT",
}
_CRYPTO_CURRENCIES = frozenset({"BTC", "XMR", "ETH", "LTC", "USDT"})
_SYM_RE = "|".join(re.escape(s) for s in sorted(_SYMBOLS, key=len, reverse=True))
_CODE_RE = "|".join(re.escape(c) for c in sorted(_CODES, key=len, reverse=True))
_PRICE_PATTERNS = (
    re.compile(rf"(?<![\w$€£])({_SYM_RE})\s?{_NUM}(?![\w])", re.I),
    re.compile(rf"(?<![\w.,]){_NUM}\s?({_SYM_RE})(?![\w$])", re.I),
    re.compile(rf"(?<![\w.,]){_NUM}\s?({_CODE_RE})(?![\w])", re.I),
    re.compile(rf"(?<![\w])({_CODE_RE})\s?{_NUM}(?![\w])", re.I),
)


def _parse_number(raw: str, decimal_point: bool = False) -> float | None:
    """Parse "1,500", "1.500", "12,50", "0.004"; ``decimal_point`` reads "." as a decimal point
    (crypto amounts are never written with thousands dots)."""
    s = raw.replace("\u00a0", " ").replace("'", "").strip()
    if decimal_point or s.startswith(("0.", "0,")):
        if re.fullmatch(r"\d+[.,]\d+", s):
            return float(s.replace(",", "."))
    if re.fullmatch(r"\d{1,3}(?:[ ,.]\d{3})+", s):  # thousands separators only
        return float(re.sub(r"[ ,.]", "", s))
    m = re.fullmatch(r"(\d{1,3}(?:[ ,.]\d{3})+)([.,])(\d{1,8})", s)
    if m:
        return float(re.sub(r"[ ,.]", "", m.group(1)) + "." + m.group(3))
    try:
        return float(s.replace(",", "."))
    except ValueError:
        return None


_ANY_DIGIT = re.compile(r"\d")


def _price_spans(text: str) -> list[tuple[Price, int, int]]:
    found: list[tuple[Price, int, int]] = []
    if _ANY_DIGIT.search(text) is None:  # every price pattern holds a number
        return found
    for index, pattern in enumerate(_PRICE_PATTERNS):
        for m in pattern.finditer(text):
            if index in (0, 3):
                unit, number = m.group(1), m.group(2)
            else:
                number, unit = m.group(1), m.group(2)
            currency = _SYMBOLS.get(unit.lower()) or _CODES.get(unit.lower())
            amount = _parse_number(number, decimal_point=currency in _CRYPTO_CURRENCIES)
            if currency is None or amount is None or amount <= 0:
                continue
            if currency == "RUB" and unit.lower() == "р" and amount < 50:
                continue
            if any(s < m.end() and m.start() < e for _, s, e in found):
                continue
            found.append((Price(amount=amount, currency=currency, usd=_to_usd(amount, currency)), m.start(), m.end()))
    return sorted(found, key=lambda item: item[1])


def _to_usd(amount: float, currency: str) -> float | None:
    try:
        from dragnet.settings import get_settings

        rate = get_settings().crawl.usd_rates.get(currency)
    except Exception:
        rate = None
    return round(amount * rate, 2) if rate is not None else None


def extract_prices(text: str) -> list[Price]:
    """Every price in the text, in order."""
    return [price for price, _, _ in _price_spans(_cap(text))]


def extract_price(text: str) -> Price | None:
    """The first price ("$80", "80 €", "0.004 BTC", "R$ 50", "1.500 руб"), with a USD value when
    the currency has a configured rate (``crawl.usd_rates``)."""
    prices = extract_prices(text)
    return prices[0] if prices else None


# --------------------------------------------------------------------------------------------
# Quantities
# --------------------------------------------------------------------------------------------
_COUNT_UNITS = {
    "pill": "pills", "pills": "pills", "pillen": "pills", "pastillas": "pills", "pastilla": "pills",
    "comprimidos": "pills", "comprimés": "pills", "comprimes": "pills", "таблеток": "pills", "таблетки": "pills",
    "tab": "tabs", "tabs": "tabs", "tablet": "tabs", "tablets": "tabs", "caps": "caps", "capsules": "caps",
    "capsule": "caps", "blotter": "blotters", "blotters": "blotters", "hits": "blotters", "hit": "blotters",
    "bars": "pills", "pcs": "units", "pieces": "units", "units": "units", "stück": "units", "stk": "units",
    "шт": "units", "vials": "vials", "vial": "vials", "amps": "ampoules", "ampoules": "ampoules",
}
_MASS_UNITS = {
    "kg": "kg", "kgs": "kg", "kilo": "kg", "kilos": "kg", "кг": "kg", "g": "g", "gr": "g", "grs": "g",
    "gram": "g", "grams": "g", "gramm": "g", "gramos": "g", "gramas": "g", "grammes": "g", "грамм": "g",
    "гр": "g", "г": "g", "oz": "oz", "ounce": "oz", "ounces": "oz", "onzas": "oz", "lb": "lb", "lbs": "lb",
    "ml": "ml", "l": "l",
}
_DOSE_UNITS = {"mg": "mg", "мг": "mg", "mcg": "ug", "ug": "ug", "µg": "ug", "μg": "ug"}
_SLANG_QUANTITIES: tuple[tuple[str, float, str], ...] = (
    (r"quarter pound|qp", 0.25, "lb"), (r"half pound|hp|half p", 0.5, "lb"), (r"half (?:an )?oz|half ounce|hz", 0.5, "oz"),
    (r"quarter oz|quarter ounce|qz|q", 0.25, "oz"), (r"eighth|8th|eightball|eight ball|8 ball|8ball", 3.5, "g"),
    (r"zip|zips", 1.0, "oz"), (r"brick|key|bird", 1.0, "kg"), (r"half g|half gram", 0.5, "g"),
)


def _unit_re(units: dict[str, str]) -> str:
    return "|".join(re.escape(u) for u in sorted(units, key=len, reverse=True))


_COUNT_RE = re.compile(rf"(?<![\w.,])(\d{{1,6}})\s?(?:x\s?)?({_unit_re(_COUNT_UNITS)})(?![\w])", re.I)
_TIMES_RE = re.compile(r"(?<![\w.,])(?:(\d{1,6})\s?x(?=\s+[^\W\d])|x\s?(\d{1,6}))(?![\w.,])", re.I)
_MASS_RE = re.compile(rf"(?<![\w.,])(\d{{1,6}}(?:[.,]\d{{1,3}})?)\s?({_unit_re(_MASS_UNITS)})(?![\w])", re.I)
_DOSE_RE = re.compile(rf"(?<![\w.,])(\d{{1,6}}(?:[.,]\d{{1,3}})?)\s?({_unit_re(_DOSE_UNITS)})(?![\w])", re.I)
_SLANG_Q_RE = re.compile(
    r"(?<![\w])(?:(\d{1,3})\s?)?(" + "|".join(p for p, _, _ in _SLANG_QUANTITIES) + r")(?![\w])", re.I
)


def _quantity_spans(text: str) -> list[tuple[Quantity, int, int]]:
    found: list[tuple[Quantity, int, int]] = []
    digits = _ANY_DIGIT.search(text) is not None  # only the slang amounts ("an eighth") need none
    for m in _COUNT_RE.finditer(text) if digits else ():
        found.append((Quantity(value=float(m.group(1)), unit=_COUNT_UNITS[m.group(2).lower()]), m.start(), m.end()))
    for m in _MASS_RE.finditer(text) if digits else ():
        value = _parse_number(m.group(1))
        if value is not None and value > 0:
            found.append((Quantity(value=value, unit=_MASS_UNITS[m.group(2).lower()]), m.start(), m.end()))
    for m in _SLANG_Q_RE.finditer(text):
        phrase = m.group(2).lower()
        if phrase in {"q", "key", "bird", "hp", "hz", "qz", "zip", "zips"} and m.group(1) is None and not _near_sale(text, m.start()):
            continue
        for pattern, value, unit in _SLANG_QUANTITIES:
            if re.fullmatch(pattern, phrase):
                count = float(m.group(1)) if m.group(1) else 1.0
                found.append((Quantity(value=value * count, unit=unit), m.start(), m.end()))
                break
    for m in _TIMES_RE.finditer(text) if digits else ():
        count = m.group(1) or m.group(2)
        found.append((Quantity(value=float(count), unit="units"), m.start(), m.end()))
    for m in _DOSE_RE.finditer(text) if digits else ():
        value = _parse_number(m.group(1))
        if value is not None and value > 0:
            found.append((Quantity(value=value, unit=_DOSE_UNITS[m.group(2).lower()]), m.start(), m.end()))
    return found  # priority order: counts, mass/volume, slang amounts, "100x", dose strengths


def _near_sale(text: str, pos: int) -> bool:
    window = _fold(text[max(0, pos - 80): pos + 80])
    return bool(_OFFER_RE.search(window) or any(p.search(window) for p in _PRICE_PATTERNS))


def extract_quantity(text: str) -> Quantity | None:
    """The amount on offer: a count ("100 pills", "x10 tabs", "100x"), a mass or volume ("3.5g",
    "1 kilo", "10 ml"), a slang amount ("QP", "an eighth", "half oz"), and only then a dose
    strength ("2mg"), which says what a pill is rather than how many are sold."""
    spans = _quantity_spans(_cap(text))
    return spans[0][0] if spans else None


# --------------------------------------------------------------------------------------------
# Evidence
# --------------------------------------------------------------------------------------------
_EMOJI_RE = re.compile("(" + "|".join(re.escape(ch) for ch in EMOJI_CODES if len(ch) == 1) + ")[\ufe0f\u200d]*")


def _emoji_hits(text: str) -> list[tuple[int, int, str, str | None, str]]:
    if text.isascii():
        return []
    hits = []
    for m in _EMOJI_RE.finditer(text):
        ch = m.group(1)
        substance, meaning = EMOJI_CODES[ch]
        hits.append((m.start(), m.end(), ch, substance, meaning))
    return hits


def _evidence(*, kind: str, text: str, start: int | None, end: int | None, rule: str, weight: float) -> Evidence:
    """An :class:`Evidence` built from values this module typed itself, without re-validation
    (about a fifth of the time of :func:`find_evidence` on a typical post went to validating
    its ~20 spans)."""
    return Evidence.model_construct(kind=kind, text=text, start=start, end=end, rule=rule, weight=weight)


def find_evidence(text: str) -> list[Evidence]:
    """Every rule hit that supports calling ``text`` a drug-sale offer, with character spans.

    Kinds: ``substance`` (a drug name, also leetspeak / misspelt / spelled out), ``slang`` (an
    ambiguous street name such as "ice" or "molly", kept only when the text also carries an
    offer, price, quantity or contact signal), ``emoji``, ``price``, ``quantity``, ``contact``
    (handles and the bare "DM / tele / snap / wickr" cues), ``crypto``, ``pgp``, ``shipping``,
    ``escrow`` and ``offer``.  ``rule`` names the rule (for substances ``<how>:<class>``).
    """
    text = _cap(text)
    if not text.strip():
        return []
    folded = _fold(text)
    evidence: list[Evidence] = []

    prices = _price_spans(text)
    quantities = _quantity_spans(text)
    contacts = _contact_spans(text)
    cryptos = _crypto_spans(text, strict=False)
    pgps = _pgp_spans(text)
    offers = list(_OFFER_RE.finditer(folded))
    cues = list(_CONTACT_CUE_RE.finditer(text))
    emojis = _emoji_hits(text)
    sale_signal = bool(prices or quantities or contacts or cryptos or offers or cues or any(e[3] is None for e in emojis))

    for hit in _lexicon_hits(text, folded):
        if hit.term.ambiguous and hit.how == "exact":
            if not sale_signal:
                continue
            kind, weight = "slang", 0.5
        else:
            kind, weight = "substance", 1.0 if hit.how == "exact" else 0.8
        evidence.append(_evidence(kind=kind, text=text[hit.start:hit.end], start=hit.start, end=hit.end,
                                 rule=f"{hit.how}:{hit.term.substance}", weight=weight))
    for start, end, _ch, substance, meaning in emojis:
        evidence.append(_evidence(kind="emoji", text=text[start:end], start=start, end=end,
                                 rule=f"emoji:{substance or 'sale'}:{meaning}", weight=0.6 if substance else 0.3))
    for price, start, end in prices:
        evidence.append(_evidence(kind="price", text=text[start:end], start=start, end=end,
                                 rule=f"price:{price.currency}", weight=0.5))
    for quantity, start, end in quantities:
        if not any(e.kind == "quantity" and e.start is not None and e.start < end and start < (e.end or 0) for e in evidence):
            evidence.append(_evidence(kind="quantity", text=text[start:end], start=start, end=end,
                                     rule=f"quantity:{quantity.unit}", weight=0.4))
    for contact, start, end in contacts:
        evidence.append(_evidence(kind="contact", text=text[start:end], start=start, end=end,
                                 rule=f"contact:{contact.kind}", weight=0.6))
    handle_spans = [(s, e) for _, s, e in contacts]
    for m in cues:
        if not any(s <= m.start() < e for s, e in handle_spans):
            evidence.append(_evidence(kind="contact", text=m.group(0), start=m.start(), end=m.end(),
                                     rule="contact_cue", weight=0.4))
    for address, start, end in cryptos:
        evidence.append(_evidence(kind="crypto", text=text[start:end], start=start, end=end,
                                 rule=f"crypto:{address.chain}", weight=0.5))
    for _fpr, start, end in pgps:
        evidence.append(_evidence(kind="pgp", text=text[start:end][:120], start=start, end=end, rule="pgp_fingerprint", weight=0.4))
    for m in offers:
        evidence.append(_evidence(kind="offer", text=text[m.start():m.end()], start=m.start(), end=m.end(), rule="offer_term", weight=0.5))
    for m in _SHIPPING_RE.finditer(folded):
        evidence.append(_evidence(kind="shipping", text=text[m.start():m.end()], start=m.start(), end=m.end(), rule="shipping_term", weight=0.4))
    for m in _ESCROW_RE.finditer(folded):
        evidence.append(_evidence(kind="escrow", text=text[m.start():m.end()], start=m.start(), end=m.end(), rule="escrow_term", weight=0.4))
    evidence.sort(key=lambda e: (e.start if e.start is not None else -1, e.kind))
    return evidence


def substance_hits(evidence: list[Evidence]) -> dict[str, float]:
    """Rule support per substance class (0..1) from substance, slang and emoji evidence."""
    support: dict[str, float] = {}
    for item in evidence:
        if item.kind not in {"substance", "slang", "emoji"} or not item.rule:
            continue
        name = item.rule.split(":")[1]
        if name in SUBSTANCES:
            support[name] = min(1.0, support.get(name, 0.0) + (item.weight or 0.5))
    return support


_KIND_WORDS = {
    "price": "a price", "quantity": "a quantity", "contact": "a contact", "crypto": "a crypto address",
    "shipping": "shipping terms", "escrow": "payment terms", "offer": "offer wording", "pgp": "a PGP key",
}


def explain(evidence: list[Evidence], substances: Iterable[str], score: float, *, max_items: int = 3) -> str:
    """One sentence, fit for a takedown notice, saying what is offered and which words show it."""
    names = [s.replace("_", " ") for s in substances]
    named = []
    for item in evidence:
        if item.kind in {"substance", "slang", "emoji"}:
            quoted = f"\u201c{item.text.strip()[:40]}\u201d"
            if quoted not in named:
                named.append(quoted)
    parts = []
    for kind in ("price", "quantity", "contact", "crypto", "shipping", "escrow", "offer", "pgp"):
        items = [e for e in evidence if e.kind == kind]
        # the amount sold before a dose strength, a handle before a bare "DM"
        items.sort(key=lambda e: e.rule in {"quantity:mg", "quantity:ug", "contact_cue"})
        if items:
            parts.append(f"{_KIND_WORDS[kind]} (\u201c{items[0].text.strip()[:40]}\u201d)")
    what = ", ".join(names) if names else "controlled drugs"
    sentence = f"The post offers {what} for sale (model score {score:.2f})"
    if named:
        sentence += f": it names {', '.join(named[:max_items])}"
        if parts:
            sentence += f" and gives {', '.join(parts[:max_items])}"
    elif parts:
        sentence += f": it gives {', '.join(parts[:max_items])}"
    return sentence + "."
