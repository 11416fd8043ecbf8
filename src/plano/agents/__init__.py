"""Agent listeners: orchestration of agents behind one OpenAI-compatible endpoint."""
