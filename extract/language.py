"""The language of a post (ISO 639-1), for per-language views and figures."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from lingua import Language, LanguageDetectorBuilder

# the languages of the markets and channels Dragnet reads
LANGUAGES = (
    Language.ENGLISH,
    Language.GERMAN,
    Language.FRENCH,
    Language.SPANISH,
    Language.DUTCH,
    Language.POLISH,
    Language.RUSSIAN,
    Language.PORTUGUESE,
    Language.ITALIAN,
    Language.SWEDISH,
)
MIN_CHARS = 20  # shorter texts carry too little to tell


@lru_cache(maxsize=1)
def _detector() -> Any:
    """Built on first use: building the detector loads its models (about a second)."""
    return LanguageDetectorBuilder.from_languages(*LANGUAGES).with_low_accuracy_mode().build()


def detect_language(text: str) -> str | None:
    """ISO 639-1 code of ``text``, or ``None`` when it is too short or the detector cannot tell;
    never an error (language is a nice-to-have, never a reason to lose an item)."""
    if len(text) < MIN_CHARS:
        return None
    try:
        language = _detector().detect_language_of(text[:2000])
    except Exception:  # noqa: BLE001 - a detector failure on hostile text means "unknown"
        return None
    return language.iso_code_639_1.name.lower() if language is not None else None
