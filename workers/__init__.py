"""Dragnet's Celery workers: classify, index, feeds and probes queues with at-least-once delivery
and idempotent effects, plus the embedded (in-process) mode used by the demo."""
