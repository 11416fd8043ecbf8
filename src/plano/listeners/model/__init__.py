"""The model listener: the LLM proxy for every client API."""
