"""Plano: an out-of-process dataplane between applications, agents and LLM providers."""

__version__ = "0.1.0"
