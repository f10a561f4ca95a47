"""Benchmarks that run modelreg and its peers (moto server, MLflow) on the same workload.

``python bench/registry.py --help`` (or ``make bench ARGS=...``) is the entry point.
"""
