"""Agentic signals: pure analysers over a conversation (no I/O, no async)."""
