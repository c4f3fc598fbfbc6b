"""Benchmarks run by ``arbitral bench NAME``: each prints its figures beside a baseline."""
