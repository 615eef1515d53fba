"""Benchmarks and synthetic corpora (`make bench`)."""
