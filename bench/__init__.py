"""Benchmarks (printed, not asserted): python -m bench.<name>."""
