"""Field extraction for crawled pages: the structured fields a profile points at (price, quantity,
ships-to) and the free-text evidence (contacts, crypto addresses, PGP fingerprints).

Free-text extraction belongs to the classifier (``classifier.extractors``), which owns the rules
that also explain its verdicts; we call it when it is installed and fall back to a small local
rule set otherwise, so that a crawl never depends on a model being present.  Structured fields
read from a selector are parsed here: a profile has already said where the price is, so a strict
parser of "USD 12.50" / "€45.00" / "0.012 BTC" is more exact than a free-text search.
"""

from __future__ import annotations

import logging
import re
from functools import lru_cache
from typing import Any

from dragnet.documents import Contact, CryptoAddress, Price, Quantity

log = logging.getLogger(__name__)

_SYMBOLS = {"$": "USD", "€": "EUR", "£": "GBP", "₿": "BTC", "ɱ": "XMR", "Ξ": "ETH"}
_CODES = {"USD", "EUR", "GBP", "BTC", "XMR", "ETH", "LTC", "CAD", "AUD", "CHF", "USDT"}
_NUMBER = re.compile(r"(\d{1,3}(?:[ ,]\d{3})+(?:\.\d+)?|\d+(?:[.,]\d+)?)")
_QUANTITY = re.compile(r"(\d+(?:[.,]\d+)?)\s*([a-zA-Zµ]{1,12})")
_WS = re.compile(r"\s+")


def normalize_text(text: str) -> str:
    return _WS.sub(" ", text).strip()


def _number(raw: str) -> float:
    raw = raw.replace(" ", "")
    if "," in raw and "." not in raw and len(raw.rsplit(",", 1)[1]) != 3:
        raw = raw.replace(",", ".")  # European decimal comma
    return float(raw.replace(",", ""))


def parse_money(text: str, usd_rates: dict[str, float] | None = None) -> Price | None:
    """``"USD 12.50"``, ``"€45.00"``, ``"0.0129 BTC"`` -> Price (with ``usd`` from the rate table);
    text this strict parser cannot read goes to the classifier's free-text price rules."""
    price = _parse_money_strict(normalize_text(text), usd_rates)
    if price is None and text.strip():
        ext = _classifier_extractors()
        fallback = getattr(ext, "extract_price", None) if ext is not None else None
        price = fallback(text) if fallback is not None else None
        if price is not None and price.usd is None and usd_rates and price.currency in usd_rates:
            price = Price(amount=price.amount, currency=price.currency,
                          usd=round(price.amount * usd_rates[price.currency], 2))
    return price


def _parse_money_strict(text: str, usd_rates: dict[str, float] | None) -> Price | None:
    match = _NUMBER.search(text)
    if not match:
        return None
    currency = None
    for token in re.findall(r"[A-Za-z]{3,4}", text):
        if token.upper() in _CODES:
            currency = token.upper()
            break
    if currency is None:
        currency = next((code for symbol, code in _SYMBOLS.items() if symbol in text), None)
    if currency is None:
        return None
    amount = _number(match.group(1))
    usd = None
    if usd_rates and currency in usd_rates:
        usd = round(amount * usd_rates[currency], 2)
    return Price(amount=amount, currency=currency, usd=usd)


def parse_quantity(text: str) -> Quantity | None:
    match = _QUANTITY.search(normalize_text(text))
    if not match:
        ext = _classifier_extractors()
        fallback = getattr(ext, "extract_quantity", None) if ext is not None else None
        return fallback(text) if fallback is not None and text.strip() else None
    return Quantity(value=_number(match.group(1)), unit=match.group(2).lower())


@lru_cache(maxsize=1)
def _classifier_extractors() -> Any | None:
    try:
        from classifier import extractors  # the classifier's rules, when that part is installed
    except Exception:  # noqa: BLE001 - any import failure means "use the local rules"
        return None
    needed = ("extract_contacts", "extract_crypto", "extract_pgp_fingerprints")
    return extractors if all(hasattr(extractors, n) for n in needed) else None


_CONTACT = re.compile(r"\b(telegram|tele|tg|wickr|session|signal|snapchat|snap|whatsapp|threema)\b[\s:]*(?:id|me|on)?[\s:]*@?"
                      r"([A-Za-z0-9_.-]{3,40})", re.I)
_CONTACT_KIND = {"tele": "telegram", "tg": "telegram", "snap": "snapchat"}
_BTC = re.compile(r"\b(bc1[02-9ac-hj-np-z]{11,71}|[13][1-9A-HJ-NP-Za-km-z]{25,34})\b")
_ETH = re.compile(r"\b(0x[0-9a-fA-F]{40})\b")
_XMR = re.compile(r"\b(4[0-9AB][1-9A-HJ-NP-Za-km-z]{93})\b")
_FPR = re.compile(r"\b((?:[0-9A-F]{4}\s?){9}[0-9A-F]{4})\b")


def contacts(text: str) -> list[Contact]:
    ext = _classifier_extractors()
    if ext is not None:
        return list(ext.extract_contacts(text))
    found: dict[tuple[str, str], Contact] = {}
    for kind, handle in _CONTACT.findall(text):
        kind = _CONTACT_KIND.get(kind.lower(), kind.lower())
        handle = handle.rstrip(".,")
        found.setdefault((kind, handle.lower()), Contact(kind=kind, handle=handle))
    return list(found.values())


def crypto(text: str) -> list[CryptoAddress]:
    ext = _classifier_extractors()
    if ext is not None:
        return list(ext.extract_crypto(text))
    out = [CryptoAddress(chain="btc", address=a) for a in _BTC.findall(text)]
    out += [CryptoAddress(chain="eth", address=a) for a in _ETH.findall(text)]
    out += [CryptoAddress(chain="xmr", address=a) for a in _XMR.findall(text)]
    return out


def pgp_fingerprints(text: str) -> list[str]:
    ext = _classifier_extractors()
    if ext is not None:
        return list(ext.extract_pgp_fingerprints(text))
    return sorted({m.replace(" ", "") for m in _FPR.findall(text)})


def fingerprint_of_key(armored: str) -> str | None:
    """The fingerprint of an armored OpenPGP public key (parsed, not guessed from the text)."""
    armored = armored.strip()
    if "BEGIN PGP PUBLIC KEY BLOCK" not in armored or len(armored) > 200_000:
        return None
    try:
        import pgpy

        key, _ = pgpy.PGPKey.from_blob(armored)
        return str(key.fingerprint).replace(" ", "")
    except Exception as exc:  # noqa: BLE001 - a vendor's broken key is data, not a crash
        log.info("unreadable PGP key block: %s", exc)
        return None


_LANGS: Any = None


def detect_language(text: str) -> str | None:
    """ISO 639-1 code of ``text`` (lingua, restricted to the markets' usual languages)."""
    global _LANGS
    if len(text) < 20:
        return None
    try:
        if _LANGS is None:
            from lingua import Language, LanguageDetectorBuilder

            _LANGS = LanguageDetectorBuilder.from_languages(
                Language.ENGLISH, Language.GERMAN, Language.FRENCH, Language.SPANISH, Language.DUTCH,
                Language.POLISH, Language.RUSSIAN, Language.PORTUGUESE, Language.ITALIAN, Language.SWEDISH,
            ).with_low_accuracy_mode().build()
        language = _LANGS.detect_language_of(text[:2000])
    except Exception:  # noqa: BLE001 - language is a nice-to-have, never a crawl failure
        return None
    return language.iso_code_639_1.name.lower() if language is not None else None
