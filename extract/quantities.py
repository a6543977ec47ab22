"""The amount on offer: counts, masses and volumes, slang amounts ("QP", "an eighth") and, last,
dose strengths."""

from __future__ import annotations

import re

from dragnet.documents import Quantity
from extract.prices import PRICE_PATTERNS, field_number, parse_number
from extract.terms import OFFER_RE
from extract.text import cap, fold

_ANY_DIGIT = re.compile(r"\d")

_COUNT_UNITS = {
    "pill": "pills",
    "pills": "pills",
    "pillen": "pills",
    "pastillas": "pills",
    "pastilla": "pills",
    "comprimidos": "pills",
    "comprimés": "pills",
    "comprimes": "pills",
    "таблеток": "pills",
    "таблетки": "pills",
    "tab": "tabs",
    "tabs": "tabs",
    "tablet": "tabs",
    "tablets": "tabs",
    "caps": "caps",
    "capsules": "caps",
    "capsule": "caps",
    "blotter": "blotters",
    "blotters": "blotters",
    "hits": "blotters",
    "hit": "blotters",
    "bars": "pills",
    "pcs": "units",
    "pieces": "units",
    "units": "units",
    "stück": "units",
    "stk": "units",
    "шт": "units",
    "vials": "vials",
    "vial": "vials",
    "amps": "ampoules",
    "ampoules": "ampoules",
}
_MASS_UNITS = {
    "kg": "kg",
    "kgs": "kg",
    "kilo": "kg",
    "kilos": "kg",
    "кг": "kg",
    "g": "g",
    "gr": "g",
    "grs": "g",
    "gram": "g",
    "grams": "g",
    "gramm": "g",
    "gramos": "g",
    "gramas": "g",
    "grammes": "g",
    "грамм": "g",
    "гр": "g",
    "г": "g",
    "oz": "oz",
    "ounce": "oz",
    "ounces": "oz",
    "onzas": "oz",
    "lb": "lb",
    "lbs": "lb",
    "ml": "ml",
    "l": "l",
}
_DOSE_UNITS = {"mg": "mg", "мг": "mg", "mcg": "ug", "ug": "ug", "µg": "ug", "μg": "ug"}
_SLANG_QUANTITIES: tuple[tuple[str, float, str], ...] = (
    (r"quarter pound|qp", 0.25, "lb"),
    (r"half pound|hp|half p", 0.5, "lb"),
    (r"half (?:an )?oz|half ounce|hz", 0.5, "oz"),
    (r"quarter oz|quarter ounce|qz|q", 0.25, "oz"),
    (r"eighth|8th|eightball|eight ball|8 ball|8ball", 3.5, "g"),
    (r"zip|zips", 1.0, "oz"),
    (r"brick|key|bird", 1.0, "kg"),
    (r"half g|half gram", 0.5, "g"),
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


def quantity_spans(text: str) -> list[tuple[Quantity, int, int]]:
    found: list[tuple[Quantity, int, int]] = []
    digits = _ANY_DIGIT.search(text) is not None  # only the slang amounts ("an eighth") need none
    for m in _COUNT_RE.finditer(text) if digits else ():
        count = parse_number(m.group(1))
        if count is not None:
            found.append((Quantity(value=count, unit=_COUNT_UNITS[m.group(2).lower()]), m.start(), m.end()))
    for m in _MASS_RE.finditer(text) if digits else ():
        value = parse_number(m.group(1))
        if value is not None and value > 0:
            found.append((Quantity(value=value, unit=_MASS_UNITS[m.group(2).lower()]), m.start(), m.end()))
    for m in _SLANG_Q_RE.finditer(text):
        phrase = m.group(2).lower()
        if (
            phrase in {"q", "key", "bird", "hp", "hz", "qz", "zip", "zips"}
            and m.group(1) is None
            and not _near_sale(text, m.start())
        ):
            continue
        for pattern, value, unit in _SLANG_QUANTITIES:
            if re.fullmatch(pattern, phrase):
                count = float(m.group(1)) if m.group(1) else 1.0
                found.append((Quantity(value=value * count, unit=unit), m.start(), m.end()))
                break
    for m in _TIMES_RE.finditer(text) if digits else ():
        times = parse_number(m.group(1) or m.group(2))
        if times is not None:
            found.append((Quantity(value=times, unit="units"), m.start(), m.end()))
    for m in _DOSE_RE.finditer(text) if digits else ():
        value = parse_number(m.group(1))
        if value is not None and value > 0:
            found.append((Quantity(value=value, unit=_DOSE_UNITS[m.group(2).lower()]), m.start(), m.end()))
    return found  # priority order: counts, mass/volume, slang amounts, "100x", dose strengths


def _near_sale(text: str, pos: int) -> bool:
    window = fold(text[max(0, pos - 80) : pos + 80])
    return bool(OFFER_RE.search(window) or any(p.search(window) for p in PRICE_PATTERNS))


def extract_quantity(text: str) -> Quantity | None:
    """The amount on offer: a count ("100 pills", "x10 tabs", "100x"), a mass or volume ("3.5g",
    "1 kilo", "10 ml"), a slang amount ("QP", "an eighth", "half oz"), and only then a dose
    strength ("2mg"), which says what a pill is rather than how many are sold."""
    spans = quantity_spans(cap(text))
    return spans[0][0] if spans else None


_FIELD_QUANTITY = re.compile(r"(\d+(?:[.,]\d+)?)\s*([a-zA-Zµ]{1,12})")


def parse_quantity(text: str) -> Quantity | None:
    """The quantity in a field a site profile points at ("10 g", "100 pills"): number and unit
    read strictly, else the free-text rules of :func:`extract_quantity`."""
    squashed = " ".join(text.split())
    match = _FIELD_QUANTITY.search(squashed)
    if match is None:
        return extract_quantity(text) if squashed else None
    value = field_number(match.group(1))
    return Quantity(value=value, unit=match.group(2).lower()) if value is not None else None
