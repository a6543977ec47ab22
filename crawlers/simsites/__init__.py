"""Simulated sites for tests, benchmarks and the demo: two onion markets with different HTML,
a forum, a JavaScript social feed and a hostile trap site, generated deterministically from the
shared data set and served on loopback behind ``.onion`` names (see :class:`SimulatedWorld`)."""

from crawlers.simsites.world import HOSTS, PROFILES_DIR, SimulatedWorld

__all__ = ["HOSTS", "PROFILES_DIR", "SimulatedWorld"]
