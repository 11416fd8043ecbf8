"""Filter chains: HTTP and MCP filters, compiled once at config load."""
