"""Outgoing email: an outbox row per message (deduplicated by key), sent by a job after commit."""
