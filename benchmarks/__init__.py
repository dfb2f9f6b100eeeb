"""Benchmarks: one module per question, run as `python -m benchmarks.<name>`."""
