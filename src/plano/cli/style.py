"""Colour and layout of the CLI's help and errors (rich-click), only where they help.

`use_rich()` decides: colour when stdout or stderr is a terminal (or `FORCE_COLOR` is set) and
`NO_COLOR` is not set; otherwise the output stays plain click text, so pipes, logs and tests see
no escape codes and no box drawing. `install()` calls `rich_click.patch()` before the command
modules are imported (they build their commands from `click.Command` / `click.Group`), so rich
is imported only by a coloured run. `SECTIONS` groups the commands in help, plain or rich.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from typing import Final, TextIO

# (title, commands) of the top-level help; a command in none of them lands in "Other".
SECTIONS: Final = (
    ("Run", ("up", "down", "reload", "logs", "demo", "mock-llm", "cli-agent")),
    ("Observe", ("obs", "console", "trace", "signals")),
    ("Configure", ("init", "validate", "keys", "build", "chatgpt")),
)


def use_rich(env: Mapping[str, str] | None = None) -> bool:
    env = os.environ if env is None else env
    if env.get("NO_COLOR", ""):
        return False
    if env.get("FORCE_COLOR", ""):
        return True
    return _isatty(sys.stdout) or _isatty(sys.stderr)


def _isatty(stream: TextIO | None) -> bool:
    try:
        return stream is not None and stream.isatty()
    except ValueError:  # a closed stream
        return False


def install() -> None:
    """Make every click command built from now on render help and errors with rich-click."""
    import rich_click.rich_click as rc
    from rich_click.patch import patch

    rc.COMMAND_GROUPS = {
        "plano": [{"name": title, "commands": list(names)} for title, names in SECTIONS]
    }
    rc.STYLE_ERRORS_SUGGESTION = "dim"
    rc.ERRORS_EPILOGUE = ""
    patch()


def error_block(text: str) -> None:
    """A multi-line error report (a config's problems) on stderr: coloured when rich is on."""
    if not use_rich():
        print(text, file=sys.stderr)
        return
    from rich.console import Console
    from rich.text import Text

    console = Console(stderr=True, highlight=False)
    for line in text.splitlines():
        styled = Text(line)
        if line.startswith("error:"):
            styled.stylize("bold red", 0, len("error:"))
        elif line.startswith("warning:"):
            styled.stylize("bold yellow", 0, len("warning:"))
        elif line.startswith("config is"):
            styled.stylize("bold")
        start = line.find("(did you mean")
        if start >= 0:
            styled.stylize("cyan", start)
        console.print(styled)
