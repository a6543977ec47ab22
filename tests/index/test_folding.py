"""Search folding (index.folding) and the query parser's use of it: one fold at index and query
time, so evasive spellings and plain words meet."""

from __future__ import annotations

import pytest

from index.folding import folded_copy, search_fold
from index.query import HL_POST, HL_PRE, Term, parse_user_query


@pytest.mark.parametrize(
    ("text", "folded"),
    [
        ("ＥＳＣＲＯＷ", "escrow"),  # full-width
        ("esc\u0301row", "escrow"),  # combining acute
        ("escróẃ", "escrow"),  # precomposed accents
        ("esc\u200brow", "escrow"),  # zero-width space
        ("esc\u00adrow", "escrow"),  # soft hyphen
        ("esc\u202erow\u202c", "escrow"),  # right-to-left override, pop
        ("e\u2066sc\u2069r\u200do\ufeffw\ufe0f", "escrow"),  # isolates, joiner, BOM, variation selector
        ("e\u20ddscrow", "escrow"),  # enclosing circle (combining class 0)
        ("\ufb01nest", "finest"),  # ligature
        ("STRASSE Straße", "strasse strasse"),  # case folding, not lower()
        ("Ǆ ǰ", "dz j"),  # NFKC splits the digraph, casefold decomposes ǰ; the marks go
        ("Plain ASCII Text", "plain ascii text"),
        ("Фентанил", "фентанил"),  # other scripts keep their letters
    ],
)
def test_search_fold(text: str, folded: str) -> None:
    assert search_fold(text) == folded


def test_fold_keeps_the_highlight_sentinels_and_the_fast_path_only_lowercases() -> None:
    assert search_fold(f"{HL_PRE}ＥＳＣＲＯＷ{HL_POST}") == f"{HL_PRE}escrow{HL_POST}"
    assert search_fold("Fentanyl-30 <b>") == "fentanyl-30 <b>"


def test_folded_copy_only_where_folding_does_more_than_lowercase() -> None:
    assert folded_copy("Pressed Oxycodone 30mg") is None
    assert folded_copy("Фентанил") is None
    assert folded_copy("trusted ＥＳＣＲＯＷ shop") == "trusted escrow shop"
    assert folded_copy("café") == "cafe"


def test_the_parser_folds_words_and_keeps_its_operators() -> None:
    parsed = parse_user_query('ＥＳＣＲＯＷ OR esc\u200brow "ｆｕｌｌ ｗｉｄｔｈ" -\ufb01x ＯＸＹ＊')
    assert parsed.must == [
        [Term(("escrow",)), Term(("escrow",))],
        [Term(("full", "width"))],
        [Term(("oxy",), prefix=True)],
    ]
    assert parsed.must_not == [Term(("fix",))]
    # a lower-case "or" is a word, as before
    assert parse_user_query("kush or cocaine").must == [[Term(("kush",))], [Term(("or",))], [Term(("cocaine",))]]
    # sentinels typed into a query separate words, they never join them
    assert parse_user_query(f"esc{HL_PRE}row").must == [[Term(("esc",))], [Term(("row",))]]
