"""Unit tests of the classifier's rule evidence: spans, substances despite spelling, slang in
context, explanations."""

from __future__ import annotations

import pytest

from classifier.evidence import explain, find_evidence, substance_hits
from dragnet.documents import Evidence
from extract.contacts import extract_contacts
from extract.crypto import extract_crypto
from extract.pgp import extract_pgp_fingerprints
from extract.prices import extract_price
from extract.quantities import extract_quantity


def _rules(evidence: list[Evidence]) -> set[tuple[str, str | None]]:
    return {(e.kind, e.rule) for e in evidence}


def test_evidence_spans_point_into_the_text() -> None:
    text = "🔥 Fresh ❄️ c0ca1ne 3.5g $80, ships worldwide stealth. DM on wickr: snowking99, escrow ok"
    evidence = find_evidence(text)
    for item in evidence:
        assert text[item.start : item.end] == item.text
    kinds_found = {e.kind for e in evidence}
    assert {"emoji", "substance", "quantity", "price", "shipping", "contact", "escrow"} <= kinds_found
    assert ("substance", "leet:stimulants") in _rules(evidence)
    assert substance_hits(evidence) == {"stimulants": 1.0}


@pytest.mark.parametrize(
    ("text", "substance"),
    [
        ("fresh xannax bars", "benzodiazepines"),  # misspelt
        ("k.e.t.a.m.i.n.e 5g for sale", "dissociatives"),  # spelled out
        ("h3r01n best quality", "opioids"),  # leetspeak
        ("0xyc0d0ne 80mg", "opioids"),
        ("fentanil en polvo", "opioids"),
        ("Verkaufe Kokain 1g", "stimulants"),
        ("cogumelos mágicos à venda", "psychedelics"),
        ("шишки 5г, закладки", "cannabis"),
        ("mdma crystals 84%", "stimulants"),
        ("🍄🍄 golden teacher 28g", "psychedelics"),
    ],
)
def test_substances_despite_spelling(text: str, substance: str) -> None:
    assert substance in substance_hits(find_evidence(text))


@pytest.mark.parametrize(
    "text",
    [
        "My daughter Molly loves ice skating and crystal jewellery",
        "Fitted snow tyres today, speed of the internet is awful",
        "Grab a coke and some snacks before the game",
        "The heroine of the novel is brave",
    ],
)
def test_innocent_slang_is_not_evidence(text: str) -> None:
    evidence = find_evidence(text)
    assert substance_hits(evidence) == {}, evidence


def test_ambiguous_slang_counts_beside_an_offer() -> None:
    evidence = find_evidence("ice for sale, 3.5g $60, DM")
    assert ("slang", "exact:stimulants") in _rules(evidence)


def test_multilingual_offers_and_contact_cues() -> None:
    assert any(e.kind == "offer" for e in find_evidence("Vendo cocaína, escríbeme"))
    assert any(e.kind == "offer" for e in find_evidence("Продаю мефедрон"))
    cues = {e.text.lower() for e in find_evidence("DM or snap for menu, tele too, wickr") if e.rule == "contact_cue"}
    assert {"dm", "snap", "tele", "wickr"} <= cues


def test_empty_and_huge_inputs() -> None:
    assert find_evidence("") == []
    assert find_evidence("   ") == []
    assert extract_price("") is None and extract_quantity("") is None
    assert extract_contacts("") == [] and extract_crypto("") == [] and extract_pgp_fingerprints("") == []
    huge = ("harmless words " * 100_000) + "cocaine 1g $50"  # past the cap: not scanned
    assert substance_hits(find_evidence(huge)) == {}


def test_explanation_names_words_of_the_post() -> None:
    text = "Selling xanax bars 2mg x100, $3 each, wickr: benzoboss"
    evidence = find_evidence(text)
    sentence = explain(evidence, ["benzodiazepines"], 0.98)
    assert sentence.startswith("The post offers benzodiazepines for sale")
    assert "xanax" in sentence and "$3" in sentence and "wickr: benzoboss" in sentence
    assert sentence.endswith(".") and "\n" not in sentence
