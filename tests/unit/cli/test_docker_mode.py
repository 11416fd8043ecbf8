"""`--docker` on up/down/logs/build: what is run, and what is said when Docker is not there.

A stand-in `docker` on PATH records its arguments (this machine has no Docker daemon)."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from plano.cli.docker_mode import run_args
from plano.cli.main import cli
from plano.config import load_config

CONFIG = """\
version: v0.4.0
listeners:
  - {type: model, name: m, port: 12000}
  - {type: agent, name: a, port: 8001, agents: [{id: x, description: d}]}
agents: [{id: x, url: "http://127.0.0.1:1"}]
model_providers:
  - {model: openai/gpt-4o, access_key: $OPENAI_API_KEY, default: true}
  - {model: anthropic/claude-sonnet-4-5, access_key: "${ANTHROPIC_API_KEY}"}
# access_key: $NOT_USED_IN_A_COMMENT
"""

FAKE = f"""#!{sys.executable}
import json, os, sys
with open(os.environ["DOCKER_LOG"], "a") as fh:
    fh.write(json.dumps(sys.argv[1:]) + "\\n")
sys.exit(int(os.environ.get("DOCKER_INFO_RC", "0")) if sys.argv[1] == "info" else 0)
"""


@pytest.fixture
def fake_docker(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    exe = bin_dir / "docker"
    exe.write_text(FAKE)
    exe.chmod(0o755)
    log = tmp_path / "docker.log"
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("DOCKER_LOG", str(log))
    return log


def _config(tmp_path: Path) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(CONFIG)
    return path


def test_run_args_publish_every_port_and_pass_keys_by_name(tmp_path: Path) -> None:
    path = _config(tmp_path)
    config = load_config(path, env={"OPENAI_API_KEY": "sk-secret", "ANTHROPIC_API_KEY": "a"})
    args = run_args(config, path, {"OPENAI_API_KEY": "sk-secret"}, workers=2)
    assert args[:4] == ["run", "-d", "--name", "plano"]
    published = [args[i + 1] for i, a in enumerate(args) if a == "-p"]
    assert published == ["127.0.0.1:8001:8001", "127.0.0.1:9901:9901", "127.0.0.1:12000:12000"]
    assert f"{path.resolve()}:/etc/plano/config.yaml:ro" in args
    passed = [args[i + 1] for i, a in enumerate(args) if a == "-e"]
    assert passed == ["OPENAI_API_KEY"]  # set here; the unset one and the comment are not
    assert "sk-secret" not in " ".join(args)  # values never on a command line
    assert args[-3:] == ["plano:local", "--workers", "2"]


def test_up_down_logs_run_docker(tmp_path: Path, fake_docker: Path) -> None:
    path = _config(tmp_path)
    runner = CliRunner()
    env = {"OPENAI_API_KEY": "k", "ANTHROPIC_API_KEY": "k", "PLANO_DOCKER_IMAGE": "me/plano:1"}
    up = runner.invoke(cli, ["up", "--docker", str(path)], env=env)
    assert up.exit_code == 0, up.output
    down = runner.invoke(cli, ["down", "--docker"])
    assert down.exit_code == 0 and "stopped" in down.output
    logs = runner.invoke(cli, ["logs", "--docker", "-n", "5"])
    assert logs.exit_code == 0
    calls = [json.loads(line) for line in fake_docker.read_text().splitlines()]
    commands = [c[0] for c in calls if c[0] != "info"]
    assert commands == ["rm", "run", "stop", "rm", "logs"]
    run = next(c for c in calls if c[0] == "run")
    assert "me/plano:1" in run
    assert next(c for c in calls if c[0] == "logs") == ["logs", "--tail", "5", "plano"]


def test_a_daemon_that_does_not_answer_is_said(
    tmp_path: Path, fake_docker: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DOCKER_INFO_RC", "1")
    result = CliRunner().invoke(cli, ["down", "--docker"])
    assert result.exit_code == 1 and "daemon does not answer" in result.output


def test_no_docker_at_all_is_said(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # nothing there
    result = CliRunner().invoke(cli, ["build", "--docker"])
    assert result.exit_code == 1 and "not installed" in result.output


def test_build_without_docker_explains_itself() -> None:
    result = CliRunner().invoke(cli, ["build"])
    assert result.exit_code == 0 and "nothing to build" in result.output
