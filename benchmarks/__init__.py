"""Benchmarks of the product: ranking quality on external data read from a path at run time."""
