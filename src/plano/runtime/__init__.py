"""L5 runtime: worker processes, binding, signals, drain."""
