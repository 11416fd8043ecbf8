"""Shared state: conversation store, session cache, rate-limit store (memory, Redis, Postgres)."""
