"""Benchmarks of the detection core: accuracy against the shared corpora and speed vs Presidio."""
