"""Normalisation shared by every extractor and by the classifier's n-gram heads.

Scraped text is hostile and can be huge: extractors read the first :data:`MAX_TEXT_CHARS` only.
The case fold and the de-leet keep the text's length, so a span found in the normal form points
into the original text (evidence spans are quoted from it)."""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

# Scraped text is hostile and can be huge; the extractors look at the first MAX_TEXT_CHARS only.
MAX_TEXT_CHARS = 200_000


def cap(text: str | None) -> str:
    if not text:
        return ""
    return text[:MAX_TEXT_CHARS]


_LEET = {"0": "o", "1": "i", "3": "e", "4": "a", "5": "s", "7": "t", "@": "a", "$": "s", "!": "i", "|": "l", "€": "e"}


@lru_cache(maxsize=4096)
def _fold_char(ch: str) -> str:
    """Lower-case and strip diacritics from one character, keeping exactly one character."""
    low = ch.lower()
    if len(low) != 1:
        return ch
    base = unicodedata.normalize("NFD", low)[0]
    return base if base.isalnum() or base in " -" else low


class _FoldTable(dict[int, str]):
    """``str.translate`` table filled on first sight of a code point: the per-character fold
    runs in C for every character seen before (all of them, after the first few posts)."""

    def __missing__(self, code: int) -> str:
        folded = _fold_char(chr(code))
        self[code] = folded
        return folded


_FOLD_TABLE = _FoldTable()


def fold(text: str) -> str:
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


def deleet(folded: str) -> str:
    """Replace leetspeak digits and symbols inside words that also hold letters ("c0ca1ne")."""
    if _LEET_CHAR.search(folded) is None:
        return folded
    return _LEET_WORD.sub(_deleet_word, folded)


_WS = re.compile(r"\s+")


def normalize_text(text: str) -> str:
    """Runs of white space as one space, trimmed (text read from HTML by a selector)."""
    return _WS.sub(" ", text).strip()
