"""Dragnet's crawlers: a Scrapy project (spiders per kind of site, driven by YAML site profiles),
downloader middlewares for Tor, sessions, gates and safety caps, and the simulated sites."""
