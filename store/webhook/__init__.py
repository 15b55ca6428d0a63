"""Inbound webhooks: verify, store (deduplicated), answer, then process in a job."""
