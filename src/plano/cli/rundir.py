"""Where a background gateway keeps its pid file and log: `$PLANO_HOME/run` (default ~/.plano)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path


def home() -> Path:
    return Path(os.environ.get("PLANO_HOME") or Path.home() / ".plano")


def run_dir() -> Path:
    path = home() / "run"
    path.mkdir(parents=True, exist_ok=True)
    return path


def log_file() -> Path:
    logs = run_dir() / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    return logs / "plano.log"


def pid_file() -> Path:
    return run_dir() / "plano.pid"


@dataclass(frozen=True)
class RunRecord:
    pid: int
    config: str
    ports: list[int]


def read_record() -> RunRecord | None:
    try:
        raw = json.loads(pid_file().read_text())
        return RunRecord(int(raw["pid"]), str(raw["config"]), [int(p) for p in raw["ports"]])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def write_record(record: RunRecord) -> None:
    pid_file().write_text(
        json.dumps({"pid": record.pid, "config": record.config, "ports": record.ports})
    )


def clear_record() -> None:
    pid_file().unlink(missing_ok=True)


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def start_detached(cmd: list[str], log_path: Path) -> subprocess.Popen[bytes]:
    """Start `cmd` in its own session (it outlives this CLI), its output appended to `log_path`."""
    with open(log_path, "ab") as log:
        return subprocess.Popen(
            cmd,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )


def stop(pid: int, seconds: float) -> bool:
    """SIGTERM `pid`, wait up to `seconds` for it to exit, then SIGKILL its process group.
    True if it stopped by itself."""
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + seconds
    while alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    if not alive(pid):
        return True
    try:
        os.killpg(pid, signal.SIGKILL)
    except ProcessLookupError:
        return True
    return False
