"""Fake outside servers that speak HTTP, for tests and worker processes."""
