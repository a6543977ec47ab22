"""The evidence behind a verdict: every rule hit that supports calling a post a drug-sale offer
(drug names and slang, emoji codes, prices, quantities, contacts, wallets, PGP keys, offer,
shipping and escrow wording), with character spans into the post, and the one-sentence
explanation a takedown notice quotes.

Why rules beside a transformer: a takedown notice has to point at words in the post, and rules
are auditable.  The model decides; these functions say why.  The extractors themselves live in
:mod:`extract`, shared with the crawler."""

from __future__ import annotations

from collections.abc import Iterable

from dragnet.documents import SUBSTANCES, Evidence
from extract.contacts import contact_spans
from extract.crypto import crypto_spans
from extract.pgp import pgp_spans
from extract.prices import price_spans
from extract.quantities import quantity_spans
from extract.terms import CONTACT_CUE_RE, ESCROW_RE, OFFER_RE, SHIPPING_RE, emoji_hits, term_hits
from extract.text import cap, fold


def _evidence(*, kind: str, text: str, start: int | None, end: int | None, rule: str, weight: float) -> Evidence:
    """An :class:`Evidence` built from values this module typed itself, without re-validation
    (about a fifth of the time of :func:`find_evidence` on a typical post went to validating
    its ~20 spans)."""
    return Evidence.model_construct(kind=kind, text=text, start=start, end=end, rule=rule, weight=weight)


def find_evidence(text: str) -> list[Evidence]:
    """Every rule hit that supports calling ``text`` a drug-sale offer, with character spans.

    Kinds: ``substance`` (a drug name, also leetspeak / misspelt / spelled out), ``slang`` (an
    ambiguous street name such as "ice" or "molly", kept only when the text also carries an
    offer, price, quantity or contact signal), ``emoji``, ``price``, ``quantity``, ``contact``
    (handles and the bare "DM / tele / snap / wickr" cues), ``crypto``, ``pgp``, ``shipping``,
    ``escrow`` and ``offer``.  ``rule`` names the rule (for substances ``<how>:<class>``).
    """
    text = cap(text)
    if not text.strip():
        return []
    folded = fold(text)
    evidence: list[Evidence] = []

    prices = price_spans(text)
    quantities = quantity_spans(text)
    contacts = contact_spans(text)
    cryptos = crypto_spans(text, strict=False)
    pgps = pgp_spans(text)
    offers = list(OFFER_RE.finditer(folded))
    cues = list(CONTACT_CUE_RE.finditer(text))
    emojis = emoji_hits(text)
    sale_signal = bool(
        prices or quantities or contacts or cryptos or offers or cues or any(e[3] is None for e in emojis)
    )

    for hit in term_hits(text, folded):
        if hit.term.ambiguous and hit.how == "exact":
            if not sale_signal:
                continue
            kind, weight = "slang", 0.5
        else:
            kind, weight = "substance", 1.0 if hit.how == "exact" else 0.8
        evidence.append(
            _evidence(
                kind=kind,
                text=text[hit.start : hit.end],
                start=hit.start,
                end=hit.end,
                rule=f"{hit.how}:{hit.term.substance}",
                weight=weight,
            )
        )
    for start, end, _ch, substance, meaning in emojis:
        evidence.append(
            _evidence(
                kind="emoji",
                text=text[start:end],
                start=start,
                end=end,
                rule=f"emoji:{substance or 'sale'}:{meaning}",
                weight=0.6 if substance else 0.3,
            )
        )
    for price, start, end in prices:
        evidence.append(
            _evidence(
                kind="price", text=text[start:end], start=start, end=end, rule=f"price:{price.currency}", weight=0.5
            )
        )
    for quantity, start, end in quantities:
        if not any(
            e.kind == "quantity" and e.start is not None and e.start < end and start < (e.end or 0) for e in evidence
        ):
            evidence.append(
                _evidence(
                    kind="quantity",
                    text=text[start:end],
                    start=start,
                    end=end,
                    rule=f"quantity:{quantity.unit}",
                    weight=0.4,
                )
            )
    for contact, start, end in contacts:
        evidence.append(
            _evidence(
                kind="contact", text=text[start:end], start=start, end=end, rule=f"contact:{contact.kind}", weight=0.6
            )
        )
    handle_spans = [(s, e) for _, s, e in contacts]
    for m in cues:
        if not any(s <= m.start() < e for s, e in handle_spans):
            evidence.append(
                _evidence(kind="contact", text=m.group(0), start=m.start(), end=m.end(), rule="contact_cue", weight=0.4)
            )
    for address, start, end in cryptos:
        evidence.append(
            _evidence(
                kind="crypto", text=text[start:end], start=start, end=end, rule=f"crypto:{address.chain}", weight=0.5
            )
        )
    for _fpr, start, end in pgps:
        evidence.append(
            _evidence(kind="pgp", text=text[start:end][:120], start=start, end=end, rule="pgp_fingerprint", weight=0.4)
        )
    for m in offers:
        evidence.append(
            _evidence(
                kind="offer",
                text=text[m.start() : m.end()],
                start=m.start(),
                end=m.end(),
                rule="offer_term",
                weight=0.5,
            )
        )
    for m in SHIPPING_RE.finditer(folded):
        evidence.append(
            _evidence(
                kind="shipping",
                text=text[m.start() : m.end()],
                start=m.start(),
                end=m.end(),
                rule="shipping_term",
                weight=0.4,
            )
        )
    for m in ESCROW_RE.finditer(folded):
        evidence.append(
            _evidence(
                kind="escrow",
                text=text[m.start() : m.end()],
                start=m.start(),
                end=m.end(),
                rule="escrow_term",
                weight=0.4,
            )
        )
    evidence.sort(key=lambda e: (e.start if e.start is not None else -1, e.kind))
    return evidence


def substance_hits(evidence: list[Evidence]) -> dict[str, float]:
    """Rule support per substance class (0..1) from substance, slang and emoji evidence."""
    support: dict[str, float] = {}
    for item in evidence:
        if item.kind not in {"substance", "slang", "emoji"} or not item.rule:
            continue
        name = item.rule.split(":")[1]
        if name in SUBSTANCES:
            support[name] = min(1.0, support.get(name, 0.0) + (item.weight or 0.5))
    return support


_KIND_WORDS = {
    "price": "a price",
    "quantity": "a quantity",
    "contact": "a contact",
    "crypto": "a crypto address",
    "shipping": "shipping terms",
    "escrow": "payment terms",
    "offer": "offer wording",
    "pgp": "a PGP key",
}


def explain(evidence: list[Evidence], substances: Iterable[str], score: float, *, max_items: int = 3) -> str:
    """One sentence, fit for a takedown notice, saying what is offered and which words show it."""
    names = [s.replace("_", " ") for s in substances]
    named = []
    for item in evidence:
        if item.kind in {"substance", "slang", "emoji"}:
            quoted = f"\u201c{item.text.strip()[:40]}\u201d"
            if quoted not in named:
                named.append(quoted)
    parts = []
    for kind in ("price", "quantity", "contact", "crypto", "shipping", "escrow", "offer", "pgp"):
        items = [e for e in evidence if e.kind == kind]
        # the amount sold before a dose strength, a handle before a bare "DM"
        items.sort(key=lambda e: e.rule in {"quantity:mg", "quantity:ug", "contact_cue"})
        if items:
            parts.append(f"{_KIND_WORDS[kind]} (\u201c{items[0].text.strip()[:40]}\u201d)")
    what = ", ".join(names) if names else "controlled drugs"
    sentence = f"The post offers {what} for sale (model score {score:.2f})"
    if named:
        sentence += f": it names {', '.join(named[:max_items])}"
        if parts:
            sentence += f" and gives {', '.join(parts[:max_items])}"
    elif parts:
        sentence += f": it gives {', '.join(parts[:max_items])}"
    return sentence + "."
