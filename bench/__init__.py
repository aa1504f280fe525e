"""Benchmarks; each writes its JSON results to bench/results/."""
