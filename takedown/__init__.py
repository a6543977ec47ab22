"""Takedown notices for platforms: registry, review workflow, delivery, evidence bundles, metrics."""
