"""Dragnet: find drug-sale listings on dark-web markets and social media, prove what was found,
and hand it to the people who act on it."""

__version__ = "0.1.0"
