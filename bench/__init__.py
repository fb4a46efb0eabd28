"""Benchmark scripts: each starts real servers, measures, and prints ratios taken in one run.

Run one scenario per command, e.g. ``python -m bench.ceilings`` or ``python -m bench.loopback``.
Benchmarks are not tests: they print figures and never assert on timings.
"""
