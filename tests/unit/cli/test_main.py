"""The command group: bare `plano` / `planoai` prints its help and succeeds, as the original."""

from __future__ import annotations

from click.testing import CliRunner

from plano.cli.main import cli


def test_bare_command_prints_help_and_succeeds() -> None:
    result = CliRunner().invoke(cli, [])
    assert result.exit_code == 0
    assert "Commands:" in result.output and "init" in result.output
