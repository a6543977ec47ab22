"""Human labels for the UI: a title for posts that have none, filter chips in words
("Price ≥ $50", not ``price_min``), and a verdict's evidence without repeated spans."""

from __future__ import annotations

from dragnet.documents import Evidence, Listing

TITLE_WORDS = 10
TITLE_CHARS = 80


def display_title(listing: Listing) -> str:
    """The listing's title, or for a post without one (most social posts) its first words,
    ellipsised; an empty post is named by its kind and place."""
    if listing.title.strip():
        return listing.title
    words = listing.text.split()
    if words:
        snippet = " ".join(words[:TITLE_WORDS])
        if len(snippet) > TITLE_CHARS:
            snippet = snippet[:TITLE_CHARS].rstrip()
        return snippet + ("…" if len(words) > TITLE_WORDS or len(snippet) < len(" ".join(words)) else "")
    return f"Empty {listing.source_kind} post" + (
        f" on {listing.platform or listing.market}" if listing.platform or listing.market else ""
    )


CHIP_LABELS = {
    "market": "Market",
    "platform": "Platform",
    "vendor": "Vendor",
    "substance": "Substance",
    "ships_from": "Ships from",
    "source_kind": "Source",
    "intent": "Intent",
}


def chip_label(key: str, value: str) -> str:
    """One active filter in words."""
    if key in CHIP_LABELS:
        return f"{CHIP_LABELS[key]}: {value}"
    if key == "is_drug_sale":
        return "Verdict: drug sale" if value.lower() == "true" else "Verdict: not a sale"
    if key == "pgp_changed":
        return "PGP key changed" if value.lower() == "true" else "PGP key unchanged"
    if key == "price_min":
        return f"Price ≥ ${value}"
    if key == "price_max":
        return f"Price ≤ ${value}"
    if key == "min_score":
        return f"Score ≥ {value}"
    if key == "seen_from":
        return f"Seen from {value}"
    if key == "seen_to":
        return f"Seen until {value}"
    return f"{key}: {value}"


def unique_evidence(evidence: list[Evidence], limit: int = 50) -> list[Evidence]:
    """Each evidence span once: the classifier reads title and body, so a word in both comes
    back twice (same kind, rule and text, other offsets)."""
    seen: set[tuple[str, str | None, str]] = set()
    out = []
    for item in evidence:
        key = (item.kind, item.rule, item.text.casefold().strip())
        if key in seen:
            continue
        seen.add(key)
        out.append(item)
        if len(out) >= limit:
            break
    return out


__all__ = ["chip_label", "display_title", "unique_evidence"]
