"""Dragnet's HTTP layer: analyst search API and UI, platform feeds, operator and lifespan views."""
