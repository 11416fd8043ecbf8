"""`plano cli-agent claude|codex [FILE]`: run a coding agent's CLI against the running gateway.

As the original's `planoai cli_agent`: Claude Code talks to the model listener as an Anthropic
API (`ANTHROPIC_BASE_URL`), Codex as an OpenAI API (`OPENAI_BASE_URL=…/v1`); the gateway then
routes, translates and fails over for them. The gateway must already run (`plano up FILE`); the
tool's exit status is the command's.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Mapping
from typing import TYPE_CHECKING, Final

import click

from plano.cli.up import find_config, load_or_exit

if TYPE_CHECKING:
    from plano.config import Config

SMALL_FAST_ALIAS: Final = "arch.claude.code.small.fast"
DEFAULT_CODEX_MODEL: Final = "gpt-5.3-codex"
INSTALL_HINT: Final = {
    "claude": "install Claude Code: npm install -g @anthropic-ai/claude-code",
    "codex": "install Codex: npm install -g @openai/codex",
}


def model_listener_url(config: Config) -> str:
    """The base URL of the config's model listener, as a local client reaches it."""
    for lc in config.listeners:
        if lc.type == "model":
            host = "127.0.0.1" if lc.address in ("0.0.0.0", "::") else lc.address
            if ":" in host:
                host = f"[{host}]"
            return f"http://{host}:{lc.port}"
    raise click.ClickException("the config has no model listener (type: model) to point at")


def agent_env(
    agent: str, base: str, config: Config, settings: Mapping[str, str]
) -> tuple[dict[str, str], list[str]]:
    """The environment and the leading arguments for `agent` against the gateway at `base`."""
    env: dict[str, str] = {}
    args: list[str] = []
    if agent == "claude":
        env["ANTHROPIC_BASE_URL"] = base
        env["ANTHROPIC_AUTH_TOKEN"] = "plano"  # the gateway holds the provider keys
        env["API_TIMEOUT_MS"] = "600000"
        if SMALL_FAST_ALIAS in config.model_aliases:
            env["ANTHROPIC_SMALL_FAST_MODEL"] = SMALL_FAST_ALIAS
    else:
        env["OPENAI_BASE_URL"] = f"{base}/v1"
        if "OPENAI_API_KEY" not in os.environ:  # the gateway holds the provider keys
            env["OPENAI_API_KEY"] = "plano"
        args = ["--model", settings.get("CODEX_MODEL", DEFAULT_CODEX_MODEL)]
    if settings.get("NON_INTERACTIVE_MODE", "").lower() in ("1", "true", "yes"):
        env["CI"] = "true"
        env["DISABLE_AUTOUPDATER"] = "1"
    env.update({k: v for k, v in settings.items() if k not in ("CODEX_MODEL",)})
    return env, args


def parse_settings(raw: str | None) -> dict[str, str]:
    if not raw:
        return {}
    try:
        doc = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise click.BadParameter(f"not JSON: {exc.msg}", param_hint="--settings") from None
    if not isinstance(doc, dict):
        raise click.BadParameter("must be a JSON object", param_hint="--settings")
    return {str(k): v if isinstance(v, str) else json.dumps(v) for k, v in doc.items()}


def gateway_answers(base: str) -> bool:
    try:
        with urllib.request.urlopen(f"{base}/healthz", timeout=3) as resp:
            return bool(resp.status == 200)
    except (urllib.error.URLError, OSError):
        return False


@click.command("cli-agent", context_settings={"ignore_unknown_options": True})
@click.argument("agent", type=click.Choice(["claude", "codex"]))
@click.argument("file", required=False)
@click.option("--path", "search_path", default=".", help="Directory searched for the config.")
@click.option(
    "--settings",
    default=None,
    help="JSON object of environment settings for the tool (e.g. CODEX_MODEL, "
    "ANTHROPIC_SMALL_FAST_MODEL, NON_INTERACTIVE_MODE).",
)
@click.argument("extra", nargs=-1, type=click.UNPROCESSED)
def cli_agent(
    agent: str, file: str | None, search_path: str, settings: str | None, extra: tuple[str, ...]
) -> None:
    """Run Claude Code or Codex against the running gateway (arguments after -- go to the tool)."""
    config_path = find_config(file, search_path)
    if config_path is None:
        raise click.ClickException(
            f"no config.yaml or plano_config.yaml in {search_path}; name the gateway's config file"
        )
    config = load_or_exit(config_path)
    base = model_listener_url(config)
    if not gateway_answers(base):
        raise click.ClickException(
            f"Plano does not answer at {base}; start it first: plano up {config_path}"
        )
    tool = shutil.which(agent)
    if tool is None:
        raise click.ClickException(f"'{agent}' is not on PATH; {INSTALL_HINT[agent]}")
    env, args = agent_env(agent, base, config, parse_settings(settings))
    click.echo(f"{agent} → Plano at {base}", err=True)
    code = subprocess.call([tool, *args, *extra], env={**os.environ, **env})
    sys.exit(code)
