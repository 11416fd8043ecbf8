"""L3 routing: which configured model serves a request."""
