"""L5 listeners: one package per listener kind, each a pipeline of stages; the composition root."""
