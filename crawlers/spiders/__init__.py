"""Dragnet's spiders: one per kind of site (market, forum, social), each driven by a site profile."""
