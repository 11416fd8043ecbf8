"""L0: exact wire shapes, one module per API."""
