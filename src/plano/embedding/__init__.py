"""Local sentence embeddings shared by the guard, the embedded router and agent selection.

`model.MiniLM` is the CPU model (loaded lazily, once per worker process, through `shared`);
`memo.EmbeddingMemo` keeps one request's embeddings so that the guard, the router and the agent
selector embed the same text once.
"""
