"""The original's CLI surface (reference §10) under `planoai`: every command and option of its
table runs, or explains itself; help and errors are coloured only in a terminal."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from plano.cli.main import cli

# (command, options its help must list), from the reference's §10 table and §9.4.
SURFACE = [
    (
        ["up"],
        [
            "--with-tracing",
            "--tracing-port",
            "--listener-port",
            "--path",
            "-v",
            "--verbose",
            "--foreground",
            "--docker",
        ],
    ),
    (["logs"], ["--debug", "--follow", "--docker"]),
    (["down"], ["-v", "--docker"]),
    (["build"], ["--docker"]),
    (["init"], ["--template", "--clean", "--output", "-o", "--force", "--list-templates"]),
    (
        ["trace"],
        ["listen", "down", "stop"],
    ),
    (
        ["trace", "show"],
        ["--filter", "--where", "--list", "--no-interactive", "--limit", "--since", "--json"],
    ),
    (
        ["obs"],
        [
            "--port",
            "--host",
            "--capacity",
            "--refresh-ms",
            "--config",
            "--pricing-provider",
            "--pricing-url",
        ],
    ),
    (["cli-agent"], ["--path", "--settings"]),
    (["cli_agent"], ["--path", "--settings"]),
    (["chatgpt"], ["login", "status", "logout"]),
]


@pytest.mark.parametrize(("command", "options"), SURFACE, ids=[" ".join(c) for c, _ in SURFACE])
def test_every_command_and_option_of_the_original_is_there(
    command: list[str], options: list[str]
) -> None:
    result = CliRunner().invoke(cli, [*command, "--help"], prog_name="planoai")
    assert result.exit_code == 0, result.output
    assert f"planoai {' '.join(command)}" in result.output
    for option in options:
        assert option in result.output, f"{' '.join(command)} --help lacks {option}"


def test_bare_planoai_prints_help_and_exits_0() -> None:
    result = CliRunner().invoke(cli, [], prog_name="planoai")
    assert result.exit_code == 0
    assert "Usage: planoai" in result.output
    for title in ("Run:", "Observe:", "Configure:"):
        assert title in result.output


def test_version() -> None:
    result = CliRunner().invoke(cli, ["--version"], prog_name="planoai")
    assert result.exit_code == 0 and "version" in result.output


@pytest.mark.parametrize("action", ["login", "status", "logout"])
def test_chatgpt_explains_it_is_not_supported_and_fails(action: str) -> None:
    result = CliRunner().invoke(cli, ["chatgpt", action], prog_name="planoai")
    assert result.exit_code == 1
    assert "not supported" in result.output
    assert "OPENAI_API_KEY" in result.output


def test_build_without_docker_explains_itself() -> None:
    result = CliRunner().invoke(cli, ["build"], prog_name="planoai")
    assert result.output.strip()  # says why there is nothing to build natively


def help_in(env_overrides: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "FORCE_COLOR")}
    env.update(env_overrides, COLUMNS="100")
    return subprocess.run(
        [sys.executable, "-m", "plano", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_help_is_coloured_and_grouped_in_a_terminal() -> None:
    shown = help_in({"FORCE_COLOR": "1"}, "--help")  # what a terminal gets
    assert shown.returncode == 0, shown.stderr
    assert "\x1b[" in shown.stdout
    for title in ("Run", "Observe", "Configure"):
        assert f" {title} " in shown.stdout
    error = help_in({"FORCE_COLOR": "1"}, "up", "--wiht-tracing")
    assert error.returncode == 2
    assert "\x1b[" in error.stderr and "--with-tracing" in error.stderr


def test_no_color_and_pipes_get_plain_text() -> None:
    for env in ({"NO_COLOR": "1", "FORCE_COLOR": "1"}, {}):  # {}: stdout is a pipe here
        shown = help_in(env, "--help")
        assert shown.returncode == 0, shown.stderr
        assert "\x1b[" not in shown.stdout and "╭" not in shown.stdout
        assert "Observe:" in shown.stdout


def test_config_problems_are_coloured_in_a_terminal(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(
        "version: v0.4.0\n"
        "listeners: [{type: model, name: m, port: 12000}]\n"
        "model_providers: [{model: opneai/gpt-4o, access_key: k, default: true}]\n"
    )
    coloured = help_in({"FORCE_COLOR": "1"}, "validate", str(path))
    assert coloured.returncode == 1
    assert "\x1b[1;31merror:\x1b[0m" in coloured.stderr
    assert "did you mean" in coloured.stderr and "'openai'" in coloured.stderr
    plain = help_in({"NO_COLOR": "1"}, "validate", str(path))
    assert plain.returncode == 1
    assert plain.stderr.startswith("error: ") and "\x1b[" not in plain.stderr


RICH_PROBE = """
import sys
from plano.cli.main import main
sys.argv = ["plano", "--help"]
try:
    main()
except SystemExit:
    pass
loaded = any(m.split(".")[0] in ("rich", "rich_click") for m in sys.modules)
print("rich loaded" if loaded else "rich not loaded", file=sys.stderr)
"""


@pytest.mark.parametrize(("env", "loaded"), [({}, False), ({"FORCE_COLOR": "1"}, True)])
def test_rich_is_imported_only_for_coloured_output(env: dict[str, str], loaded: bool) -> None:
    base = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "FORCE_COLOR")}
    probe = subprocess.run(
        [sys.executable, "-c", RICH_PROBE],
        env={**base, **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert probe.stderr.strip().endswith("rich loaded" if loaded else "rich not loaded")


def test_version_says_whether_the_compiled_modules_run() -> None:
    result = CliRunner().invoke(cli, ["--version"], prog_name="planoai")
    assert "(pure Python" in result.output or "(compiled: " in result.output
