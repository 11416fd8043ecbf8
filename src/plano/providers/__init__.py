"""L2: the vendor catalogue as data, plus code for the real differences (paths, auth)."""
