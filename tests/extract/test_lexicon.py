"""The lexicon: every entry says where it comes from, and the public slang reaches the evidence."""

from __future__ import annotations

from classifier.evidence import find_evidence, substance_hits
from dragnet.documents import SUBSTANCES
from extract.lexicon import CURATED, EMOJI_CODES, SUBSTANCE_TERMS, lexicon_entries


def test_every_entry_carries_its_provenance() -> None:
    entries = lexicon_entries()
    public = [entry for entry in entries if entry.source != CURATED]
    assert len(public) >= 1000
    assert all(entry.source and entry.source_url and entry.source_url.startswith("http") for entry in public)
    assert all(entry.substance in SUBSTANCES or entry.substance is None for entry in entries)
    assert {entry.lang for entry in public} >= {"en", "es", "de", "fr", "pt", "ru"}


def test_public_terms_and_emoji_are_merged_into_the_matcher() -> None:
    merged = {term for terms in SUBSTANCE_TERMS.values() for term in terms}
    public_terms = {e.term.lower() for e in lexicon_entries() if e.source != CURATED and e.kind != "emoji"}
    matchable = {t for t in public_terms if len(t) >= 3 and any(ch.isalpha() for ch in t)}
    assert len(matchable) > 700 and matchable <= merged
    assert "80" not in merged  # a number would collide with every "$80"
    assert "🔌" in EMOJI_CODES and EMOJI_CODES["🔌"][0] is None  # the plug: a dealer, no substance
    assert EMOJI_CODES["🔥"][0] is None  # the charts disagree on its class: a sale signal only


def test_street_names_map_to_their_class() -> None:
    cases = {
        "got blues 30s, tap in": "opioids",
        "xanax bars 2mg, hmu": "benzodiazepines",
        "gabbies 800mg available, dm": "other_rx",
        "zaza and carts, delivery today": "cannabis",
        "❄️ ❄️ grams ready, dm": "stimulants",
        "flunis und rivos, schreib mir": "benzodiazepines",
    }
    for text, substance in cases.items():
        assert substance in substance_hits(find_evidence(text)), text
