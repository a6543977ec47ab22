"""Drug names and street slang in text, as the lexicon lists them (:mod:`extract.lexicon`), also
when misspelt by one letter, written in leetspeak or spelled out with separators; and the
phrase patterns of offers, shipping, escrow and contact cues."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache

from extract.lexicon import AMBIGUOUS, EMOJI_CODES, ESCROW_TERMS, OFFER_TERMS, SHIPPING_TERMS, SUBSTANCE_TERMS
from extract.text import deleet, fold


@dataclass(frozen=True)
class Term:
    canonical: str
    substance: str
    ambiguous: bool


@lru_cache(maxsize=1)
def _lexicon() -> tuple[dict[str, Term], re.Pattern[str], dict[str, str]]:
    terms: dict[str, Term] = {}
    for substance, words in SUBSTANCE_TERMS.items():
        for word in words:
            key = fold(word)
            terms.setdefault(key, Term(word, substance, word in AMBIGUOUS or key in AMBIGUOUS))
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
    return {word[:i] + word[i + 1 :] for i in range(len(word))}


# Real words one edit away from a drug name: never "corrected" into one.
_FUZZY_STOP = frozenset(
    {
        "heroine",
        "heroines",
        "cocoa",
        "morphing",
        "codeing",
        "coding",
        "methane",
        "speedy",
        "ketones",
        "ketone",
        "hashes",
        "hashed",
        "mushroomed",
        "valiums",
        "xanadu",
        "percent",
        "carts",
        "crystals",
        "opioid",
        "opiate",
        "steroid",
        "cannabis",
        "ecstatic",
        "extasis",
        "marinara",
        "acidic",
        "vicious",
        "oxygen",
        "amphibian",
        "testosteron",
        "ketchup",
        "kerosene",
        "mexicans",
        "cocina",
        "cocaina",
    }
)


@dataclass(frozen=True)
class TermHit:
    start: int
    end: int
    term: Term
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


def term_hits(text: str, folded: str | None = None) -> list[TermHit]:
    terms, pattern, _ = _lexicon()
    folded = fold(text) if folded is None else folded
    hits: dict[tuple[int, int], TermHit] = {}
    for m in pattern.finditer(folded):
        hits[(m.start(), m.end())] = TermHit(m.start(), m.end(), terms[m.group(0)], "exact")
    deleeted = deleet(folded)
    if deleeted != folded:
        for m in pattern.finditer(deleeted):
            if folded[m.start() : m.end()] != m.group(0):
                hits.setdefault((m.start(), m.end()), TermHit(m.start(), m.end(), terms[m.group(0)], "leet"))
    # Spelled out with separators: c.o.c.a.i.n.e, k-e-t-a-m-i-n-e
    for m in _SPELLED_OUT.finditer(deleeted):
        joined = re.sub(r"[.\-_*·•]", "", m.group(0))
        if joined in terms:
            hits.setdefault((m.start(), m.end()), TermHit(m.start(), m.end(), terms[joined], "spaced"))
    # Misspellings: edit distance 1 from a long unambiguous term.
    covered = [(h.start, h.end) for h in hits.values()]
    for m in _LONG_WORD.finditer(deleeted):
        match = _fuzzy_term(m.group(0))
        if match is not None and not any(s <= m.start() < e for s, e in covered):
            hits.setdefault((m.start(), m.end()), TermHit(m.start(), m.end(), terms[match], "fuzzy"))
    return sorted(hits.values(), key=lambda h: (h.start, -h.end))


def phrase_pattern(phrases: Iterable[str]) -> re.Pattern[str]:
    alternation = "|".join(re.escape(fold(p)) for p in sorted(set(phrases), key=len, reverse=True))
    return re.compile(rf"(?<![\w])(?:{alternation})(?![\w])", re.UNICODE)


OFFER_RE = phrase_pattern(OFFER_TERMS)
SHIPPING_RE = phrase_pattern(SHIPPING_TERMS)
ESCROW_RE = phrase_pattern(ESCROW_TERMS)
CONTACT_CUE_RE = re.compile(
    r"(?<![\w@])(?:dm|dms|dm me|pm me|inbox me|text me|message me|hmu|tele|telegram|tg|telega|snap|snapchat|"
    r"wickr|wickr me|signal|whatsapp|whats app|threema|session id|kik|телега|телеграм|пиши|пишите|"
    r"escr[ií]beme|schreib mir|[ée]cris-moi|chama no zap|zap)(?![\w])",
    re.IGNORECASE | re.UNICODE,
)


EMOJI_RE = re.compile("(" + "|".join(re.escape(ch) for ch in EMOJI_CODES if len(ch) == 1) + ")[\ufe0f\u200d]*")


def emoji_hits(text: str) -> list[tuple[int, int, str, str | None, str]]:
    """Emoji codes of the lexicon: (start, end, emoji, substance class or None, meaning)."""
    if text.isascii():
        return []
    hits = []
    for m in EMOJI_RE.finditer(text):
        ch = m.group(1)
        substance, meaning = EMOJI_CODES[ch]
        hits.append((m.start(), m.end(), ch, substance, meaning))
    return hits
