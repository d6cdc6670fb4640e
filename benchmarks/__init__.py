"""Benchmarks of labelshap: speed and accuracy, kept apart from the library."""
