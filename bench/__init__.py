"""Benchmarks run by ``dragnet bench ...``: each prints figures beside a baseline measured in
the same run, and never passes or fails on a time."""
