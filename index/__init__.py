"""Dragnet's store: one interface, two backends (Elasticsearch/OpenSearch and embedded SQLite
FTS5), plus the takedown notices and the marketplace lifespan records."""
