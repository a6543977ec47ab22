"""Rule-based reading of text, shared by the crawler and the classifier: normalisation, drug
terms and slang, prices, quantities, contacts, crypto addresses, PGP fingerprints, onion
addresses and language.  Pure Python, no model, safe on hostile input (bounded sizes,
linear-time patterns)."""
