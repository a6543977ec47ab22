"""Marketplace lifespan: registry, probe history, state machine, survival analysis.

* :mod:`.store` - ``LifespanStore``: SQLite (``lifespan.store_path`` or ``<data_dir>/lifespan.sqlite3``)
  with markets, mirrors, probes, state changes (with evidence), signals, mirror checks, imported history.
* :mod:`.registry` - markets from the crawler's site profiles, analysts and discovered addresses.
* :mod:`.fetch` / :mod:`.probes` - probes over Tor's SOCKS5h proxy (``probe_market``, ``probe_due_markets``
  for the workers): up, down (descriptor not found / connection failed / timeout / HTTP error), gate,
  login wall, seizure banner (text and image hashes), latency; immediate re-probe, exponential back-off.
* :mod:`.state` - active -> degraded -> down -> seized / exit_scam / retired, and back to active.
* :mod:`.mirrors` / :mod:`.clones` - signed mirrors.txt, pgp.txt and canary.txt (dark.fail guidelines),
  key pinning, clone detection and phishing flags.
* :mod:`.analytics` / :mod:`.importer` - uptime, Kaplan-Meier, median lifespan with CI, Aalen-Johansen
  cumulative incidence; CSV import of historical market tables.
"""
