"""L5 server: listeners, HTTP handling, the composition root."""
