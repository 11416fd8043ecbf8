"""`plano chatgpt login|status|logout`: present for the original's users, and explained.

The original signs in to a ChatGPT subscription with OpenAI's OAuth device flow and keeps the
tokens in `~/.plano/chatgpt/auth.json`. This Plano does not run that sign-in: each subcommand
says how to use a `chatgpt/` provider with a token you already have, or an OpenAI API key, and
exits with status 1.
"""

from __future__ import annotations

import sys
from typing import Final

import click

EXPLANATION: Final = """\
plano chatgpt {action}: ChatGPT subscription sign-in is not supported by this Plano (it does not
run OpenAI's OAuth device flow or keep tokens in ~/.plano/chatgpt/auth.json).

Instead, either
  - use an OpenAI API key:  export OPENAI_API_KEY=sk-...  and a provider
      - model: openai/gpt-4o
        access_key: $OPENAI_API_KEY
  - or, with a ChatGPT access token you already have, a `chatgpt/` provider: set
    CHATGPT_ACCOUNT_ID and either give `access_key: $CHATGPT_ACCESS_TOKEN` or let clients send
    their own `Authorization` header (the default without access_key: passthrough_auth).
See docs/configuration.md ("ChatGPT wiring")."""


@click.group()
def chatgpt() -> None:
    """ChatGPT subscription sign-in (not supported here: explains the alternatives)."""


def _explain(action: str) -> None:
    click.echo(EXPLANATION.format(action=action), err=True)
    sys.exit(1)


@chatgpt.command()
def login() -> None:
    """Not supported: explains how to use an OpenAI key or an existing ChatGPT token."""
    _explain("login")


@chatgpt.command()
def status() -> None:
    """Not supported: explains how to use an OpenAI key or an existing ChatGPT token."""
    _explain("status")


@chatgpt.command()
def logout() -> None:
    """Not supported: nothing is stored, so there is nothing to remove."""
    _explain("logout")
