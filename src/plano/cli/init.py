"""`plano init`: write a starting config — a template, a minimal one, or one built by a wizard.

Templates are YAML files shipped in the package (`plano/cli/templates/`); the first two comment
lines of each give its title and what it is for. Whatever is written is validated first (with
the keys it names faked), so `plano init` never leaves a config that `plano up` would refuse for
its shape; only the environment variables it names have to be set.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Final

import click

from plano.cli.init_wizard import Answers, ask, render

DEFAULT_OUTPUT: Final = "config.yaml"

CLEAN: Final = """\
version: v0.4.0

model_providers:
  - model: openai/gpt-4o-mini
    access_key: $OPENAI_API_KEY
    default: true

listeners:
  - type: model
    name: model_listener
    port: 12000
"""


@dataclass(frozen=True, slots=True)
class Template:
    id: str
    title: str
    about: str
    text: str


def templates() -> dict[str, Template]:
    """Every shipped template by id (the file name without `.yaml`), in name order."""
    out: dict[str, Template] = {}
    folder = resources.files("plano.cli") / "templates"
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if not entry.name.endswith(".yaml"):
            continue
        text = entry.read_text(encoding="utf-8")
        meta = {}
        for line in text.splitlines()[:2]:
            key, _, value = line.lstrip("# ").partition(":")
            meta[key.strip()] = value.strip()
        tid = entry.name.removesuffix(".yaml")
        out[tid] = Template(tid, meta.get("title", tid), meta.get("about", ""), text)
    return out


def env_names(text: str) -> list[str]:
    """The environment variables a config names in its values."""
    from plano.config.env import variables_in

    return variables_in(text)


def check(text: str, source: str) -> None:
    """Refuse a config whose shape is wrong (the variables it names are given placeholders)."""
    from plano.config import ConfigError, format_report, load_config_text

    env = dict.fromkeys(env_names(text), "placeholder")
    try:
        load_config_text(text, source=source, env=env)
    except ConfigError as err:
        raise click.ClickException("\n" + format_report(err.problems, ())) from None


@click.command("init")
@click.option("--template", "-t", "template_id", metavar="NAME", help="Write this template.")
@click.option("--list-templates", is_flag=True, help="List the templates and exit.")
@click.option("--clean", is_flag=True, help="Write a minimal config (one model, one listener).")
@click.option(
    "--output",
    "-o",
    default=DEFAULT_OUTPUT,
    show_default=True,
    type=click.Path(dir_okay=False),
    help="Where to write the config ('-' for standard output).",
)
@click.option("--force", is_flag=True, help="Overwrite the output file if it exists.")
@click.option("--interactive", is_flag=True, hidden=True, help="Ask even when not in a terminal.")
def init(
    template_id: str | None,
    list_templates: bool,
    clean: bool,
    output: str,
    force: bool,
    interactive: bool,
) -> None:
    """Write a starting config: a template, --clean, or answer a few questions."""
    shipped = templates()
    if list_templates:
        width = max(len(t) for t in shipped)
        for t in shipped.values():
            click.echo(f"{click.style(t.id.ljust(width), bold=True)}  {t.title}: {t.about}")
        return
    if template_id is not None and clean:
        raise click.UsageError("give --template or --clean, not both")
    if template_id is not None:
        if template_id not in shipped:
            raise click.BadParameter(
                f"no template '{template_id}'; one of: {', '.join(shipped)}",
                param_hint="--template",
            )
        text = shipped[template_id].text
    elif clean:
        text = CLEAN
    elif interactive or (sys.stdin.isatty() and sys.stdout.isatty()):
        text = render(ask())
    else:
        raise click.UsageError(
            "not a terminal: pick one with --template NAME (see --list-templates) or --clean"
        )
    check(text, output)
    _write(text, output, force)


def _write(text: str, output: str, force: bool) -> None:
    if output == "-":
        click.echo(text, nl=False)
        return
    path = Path(output)
    if path.exists() and not force:
        raise click.ClickException(f"{path} exists; use --force to overwrite it")
    path.write_text(text, encoding="utf-8")
    click.echo(f"wrote {path}")
    names = env_names(text)
    if names:
        click.echo("set " + ", ".join(names) + " in the environment or a .env file, then:")
    click.echo(f"  plano up {path}")


__all__ = ["Answers", "init", "templates"]
