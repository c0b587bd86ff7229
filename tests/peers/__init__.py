"""Comparison peers: other implementations loaded only by tests and benchmarks, never by the product."""
