"""L3 upstream: the only place that opens sockets toward providers and agents."""
