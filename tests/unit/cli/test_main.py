"""The command group: bare `plano` / `planoai` prints its help and succeeds, as the original."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from plano.cli.main import cli


def test_bare_command_prints_help_and_succeeds() -> None:
    result = CliRunner().invoke(cli, [])
    assert result.exit_code == 0
    assert "Run:" in result.output and "Observe:" in result.output and "init" in result.output


def test_validate_counts_only_the_users_providers(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(
        "version: v0.4.0\n"
        "listeners: [{type: model, name: m, port: 12000}]\n"
        "model_providers:\n"
        "  - {model: openai/gpt-4o, access_key: k, default: true}\n"
        "  - {model: openai/gpt-4o-mini, access_key: k}\n"
        "routing_preferences:\n"
        "  - {name: code, description: writing code, models: [openai/gpt-4o]}\n"
    )
    result = CliRunner().invoke(cli, ["validate", str(path)])
    assert result.exit_code == 0, result.output
    assert "valid — 2 model providers;" in result.output
