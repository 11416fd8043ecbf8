"""L6: the `plano` command line, one module per command."""
