"""Marketplace lifespan: registry, probe history, state machine, survival analysis."""
