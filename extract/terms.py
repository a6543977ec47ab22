"""Drug names and street slang in text, as the lexicon lists them (:mod:`extract.lexicon`), also
when misspelt by one letter, written in leetspeak or spelled out with separators; and the
phrase patterns of offers, shipping, escrow and contact cues."""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from functools import lru_cache

from extract.lexicon import AMBIGUOUS, EMOJI_CODES, ESCROW_TERMS, OFFER_TERMS, SHIPPING_TERMS, SUBSTANCE_TERMS
from extract.text import deleet, fold


@dataclass(frozen=True)
class Term:
    canonical: str
    substance: str
    ambiguous: bool


_WORD_RUN = re.compile(r"\w+")


class TermScanner:
    """The matches ``(?<!\\w)(?:t1|t2|...)(?!\\w)`` would find, alternatives longest first, found
    by looking each word of the text up in a table of the terms that begin with it.

    A regex alternation of a thousand terms tries every one at every position of the text; every
    term here begins with a word character and must start where a word starts, so only word
    starts need trying, and only the terms beginning with that word.  ``tests/extract`` holds
    the two equal."""

    def __init__(self, terms: Iterable[str]) -> None:
        by_first: dict[str, list[str]] = {}
        for key in sorted(set(terms), key=len, reverse=True):
            first = _WORD_RUN.match(key)
            if first is None or first.start() != 0:
                raise ValueError(f"a term must begin with a word character: {key!r}")
            by_first.setdefault(first.group(0), []).append(key)
        self._by_first = by_first

    def finditer(self, text: str) -> Iterator[tuple[int, int, str]]:
        """``(start, end, term)`` of each match, left to right, not overlapping."""
        last = 0
        by_first = self._by_first
        size = len(text)
        for word in _WORD_RUN.finditer(text):
            start = word.start()
            if start < last:
                continue
            for key in by_first.get(word.group(0), ()):
                end = start + len(key)
                if text.startswith(key, start) and (end >= size or not _is_word_char(text[end])):
                    yield start, end, key
                    last = end
                    break

    def search(self, text: str) -> bool:
        return next(self.finditer(text), None) is not None


def _is_word_char(ch: str) -> bool:
    return ch.isalnum() or ch == "_"


@lru_cache(maxsize=1)
def _lexicon() -> tuple[dict[str, Term], TermScanner, dict[str, str]]:
    terms: dict[str, Term] = {}
    for substance, words in SUBSTANCE_TERMS.items():
        for word in words:
            key = fold(word)
            terms.setdefault(key, Term(word, substance, word in AMBIGUOUS or key in AMBIGUOUS))
    scanner = TermScanner(terms)
    # Deletion neighbourhood (edit distance 1) of the long, unambiguous single-word terms.
    deletes: dict[str, str] = {}
    for key, term in terms.items():
        if term.ambiguous or len(key) < 6 or " " in key or not key.isalpha():
            continue
        deletes.setdefault(key, key)
        for variant in _deletes(key):
            deletes.setdefault(variant, key)
    return terms, scanner, deletes


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
    terms, scanner, _ = _lexicon()
    folded = fold(text) if folded is None else folded
    hits: dict[tuple[int, int], TermHit] = {}
    for start, end, key in scanner.finditer(folded):
        hits[(start, end)] = TermHit(start, end, terms[key], "exact")
    deleeted = deleet(folded)
    if deleeted != folded:
        for start, end, key in scanner.finditer(deleeted):
            if folded[start:end] != key:
                hits.setdefault((start, end), TermHit(start, end, terms[key], "leet"))
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
