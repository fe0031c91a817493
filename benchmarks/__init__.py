"""Benchmark scripts (`make bench`). Figures are appended to docs/benchmarks.md."""
