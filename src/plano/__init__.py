"""Plano: an out-of-process dataplane between applications, agents and LLM providers."""

from plano.compiled import guard as _guard

__version__ = "0.1.0"

# Before any other Plano module loads: compiled modules run only when their sources are the ones
# they were built from (plano/compiled.py).
_guard()
