"""Benchmarks: run them as modules, e.g. `python -m bench.long_case` (see bench/README.md)."""
