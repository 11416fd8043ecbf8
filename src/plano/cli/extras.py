"""A command that needs an optional part says which extra installs it (see config/extras.py)."""

from __future__ import annotations

import click


def require_extra(extra: str, what: str) -> None:
    """Stop with "<what> needs the `extra` extra: pip install 'plano[extra]'" if it is missing."""
    from plano.config.extras import extra_problem

    problem = extra_problem(extra, what)
    if problem is not None:
        raise click.ClickException(problem)
