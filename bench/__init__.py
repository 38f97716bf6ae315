"""Benchmarks: the AR workload replayed through the whole daemon (`make bench`, `make soak`)."""
