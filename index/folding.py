"""Search folding: the one normalisation that index time and query time share, so that text
written to evade search (full-width letters, combining marks, invisible characters) is found
by the plain query, and a query typed in those forms finds the plain text.

:func:`search_fold` removes invisible characters (zero-width, bidi controls and overrides, the
soft hyphen, variation selectors, tag characters: Unicode's default-ignorable code points),
applies NFKC (full-width and other compatibility forms, ligatures such as ``ﬁ``), case-folds,
and removes combining marks (after NFD; then recomposes with NFC).  Nothing else changes: the
highlight sentinels (private-use characters) survive.

The stored title and text stay as posted; the backends index a folded copy
(:func:`folded_copy`) beside them when folding changes more than letter case, and every query is
folded the same way by the parser (:func:`index.query.parse_user_query`)."""

from __future__ import annotations

import re
import unicodedata

# Unicode's Default_Ignorable_Code_Point set (DerivedCoreProperties.txt), plus the rest of the
# General Punctuation format block: characters a reader never sees, which split or join words
_IGNORABLE = re.compile(
    "["
    "\u00ad"  # soft hyphen
    "\u034f"  # combining grapheme joiner (combining class 0: not dropped as a mark)
    "\u061c"  # Arabic letter mark
    "\u115f\u1160"  # Hangul fillers
    "\u17b4\u17b5"  # Khmer inherent vowels
    "\u180b-\u180f"  # Mongolian free variation selectors, vowel separator
    "\u200b-\u200f"  # zero-width space, (non-)joiner, LRM, RLM
    "\u202a-\u202e"  # bidi embeddings and overrides (RLO ...)
    "\u2060-\u206f"  # word joiner, invisible operators, bidi isolates, deprecated format characters
    "\u3164"  # Hangul filler
    "\ufe00-\ufe0f"  # variation selectors
    "\ufeff"  # zero-width no-break space / BOM
    "\uffa0"  # half-width Hangul filler
    "\ufff0-\ufff8"
    "\U0001bca0-\U0001bca3"  # shorthand format controls
    "\U0001d173-\U0001d17a"  # musical symbol format controls
    "\U000e0000-\U000e0fff"  # tags, variation selectors supplement
    "]+"
)


def _is_mark(char: str) -> bool:
    """A combining mark to drop: any non-zero combining class (accents, cedillas, ...), and the
    enclosing marks (a circle or keycap around a letter; combining class 0)."""
    return bool(unicodedata.combining(char)) or unicodedata.category(char) == "Me"


def fold_keep_case(text: str) -> str:
    """Everything :func:`search_fold` does but case folding (the query parser still needs an
    upper-case ``OR``)."""
    if text.isascii():
        return text
    text = _IGNORABLE.sub("", text)
    text = unicodedata.normalize("NFKC", text)
    if text.isascii():
        return text
    stripped = "".join(char for char in unicodedata.normalize("NFD", text) if not _is_mark(char))
    return unicodedata.normalize("NFC", stripped)


def search_fold(text: str) -> str:
    """The search form of ``text``: invisible characters removed, NFKC, case-folded, combining
    marks removed.  ASCII text is only lower-cased (its fast path)."""
    if text.isascii():
        return text.lower()
    # case folding after NFKC (full-width capitals fold to ASCII), marks removed after case
    # folding (it can decompose: U+01F0 casefolds to j + combining caron)
    return fold_keep_case(fold_keep_case(text).casefold())


def folded_copy(text: str) -> str | None:
    """The folded copy to index beside ``text``, or None when folding changes nothing the
    analyzers do not do themselves (lower-casing): ASCII text, and most other text."""
    if text.isascii():
        return None
    folded = search_fold(text)
    return None if folded == text.lower() else folded
