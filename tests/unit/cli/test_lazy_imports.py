"""`plano --help` stays cheap: the command modules import the config, the gateway and the
optional parts only when a command runs (cold `plano --help` went from ~0.6 s to ~0.1 s of CPU)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

SRC = str(Path(__file__).resolve().parents[3] / "src")

# Heavy or optional modules that `--help` must not need.
NOT_FOR_HELP = (
    "plano.config",
    "plano.listeners",
    "plano.runtime.serve",
    "plano.mock",
    "plano.signals",
    "plano.access",
    "plano.state",
    "pydantic",
    "grpc",
    "opentelemetry",
    "uvloop",
    "yaml_source",
    "numpy",
    "openai",
)


def test_help_imports_no_heavy_module() -> None:
    code = (
        "import sys\n"
        "from click.testing import CliRunner\n"
        "from plano.cli.main import main\n"
        "import plano.cli.main as m\n"
        "result = CliRunner().invoke(m.cli, ['--help'])\n"
        "assert result.exit_code == 0, result.output\n"
        "print('\\n'.join(sorted(sys.modules)))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        env={"PYTHONPATH": SRC, "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    loaded = done.stdout.split()
    heavy = [m for m in loaded if any(m == h or m.startswith(h + ".") for h in NOT_FOR_HELP)]
    assert heavy == []


def test_help_texts_match_the_gateway_constants() -> None:
    from plano.access import keys_admin
    from plano.cli import keys, up
    from plano.listeners import admin, app

    assert up.DEFAULT_MAX_BODY_BYTES == app.DEFAULT_MAX_BODY_BYTES
    assert (up.ENV_PORT, up.ENV_ADDRESS) == (admin.ENV_PORT, admin.ENV_ADDRESS)
    assert keys.PERIODS == keys_admin.PERIODS
