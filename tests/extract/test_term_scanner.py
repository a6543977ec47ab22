"""The word-indexed term scanner finds exactly what the regex alternation it replaced finds."""

from __future__ import annotations

import re

from hypothesis import given, settings
from hypothesis import strategies as st

from classifier.corpus import TRAIN_DIR, read_posts
from extract.terms import TermScanner, _lexicon
from extract.text import deleet, fold


def _regex(terms: list[str]) -> re.Pattern[str]:
    alternation = "|".join(re.escape(k) for k in sorted(terms, key=len, reverse=True))
    return re.compile(rf"(?<![\w])(?:{alternation})(?![\w])", re.UNICODE)


TERMS = sorted(_lexicon()[0])
REGEX = _regex(TERMS)
SCANNER = TermScanner(TERMS)


def _both(text: str) -> tuple[list[tuple[int, int, str]], list[tuple[int, int, str]]]:
    return [(m.start(), m.end(), m.group(0)) for m in REGEX.finditer(text)], list(SCANNER.finditer(text))


def test_the_scanner_equals_the_regex_on_every_written_post_folded_and_deleeted() -> None:
    compared = found = 0
    for post in (post for path in sorted(TRAIN_DIR.glob("*.jsonl")) for post in read_posts(path)):
        for text in {fold(post.text), deleet(fold(post.text))}:
            expected, got = _both(text)
            assert got == expected, post.id
            compared += 1
            found += len(got)
    assert compared > 10_000 and found > 5_000  # the corpus exercises the lexicon


def test_overlapping_and_multiword_terms_resolve_as_the_regex_does() -> None:
    scanner = TermScanner(["big h", "big harry", "big", "2c-b", "m.j.", "ice"])
    text = "big harry, big hat, big h. 2c-b2 2c-b m.j.x m.j. nice ice_ ice"
    regex = _regex(["big h", "big harry", "big", "2c-b", "m.j.", "ice"])
    assert list(scanner.finditer(text)) == [(m.start(), m.end(), m.group(0)) for m in regex.finditer(text)]
    assert [key for _, _, key in scanner.finditer(text)] == ["big harry", "big", "big h", "2c-b", "m.j.", "ice"]


PIECES = st.sampled_from([*TERMS[:: max(1, len(TERMS) // 300)], " ", "-", ".", "_", "x", "é", "1", "🍁", "\n", "ш"])


@settings(max_examples=300, deadline=None)
@given(st.lists(PIECES, max_size=20).map("".join))
def test_the_scanner_equals_the_regex_on_glued_terms(text: str) -> None:
    expected, got = _both(text)
    assert got == expected
