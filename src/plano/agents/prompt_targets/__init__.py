"""Prompt targets and function calling, the pure parts: targets as tools, the Arch-Function
protocol (prompt, rewriting, prefill, answer parsing and repair, the hallucination check), native
tool calling's request and answer, argument validation and the endpoint request."""
