"""Benchmark support: baselines (the write-up's per-record code), timers, memory probes.

Used by ``jobs/benchmark.py``; nothing here runs at import time.
"""
