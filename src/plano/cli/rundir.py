"""Where a gateway keeps its run record, status files and log: `$PLANO_HOME/run` (default
~/.plano). The file formats are `plano.runtime.runstate`'s (the supervisor writes them)."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from pathlib import Path

from plano.runtime import runstate
from plano.runtime.runstate import RunRecord


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
    return run_dir() / runstate.RECORD


def read_record() -> RunRecord | None:
    return runstate.read_record(run_dir())


def write_record(record: RunRecord) -> None:
    runstate.write_record(run_dir(), record)


def clear_record() -> None:
    runstate.clear_record(run_dir())


def alive(pid: int) -> bool:
    return runstate.alive(pid)


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


def stop_gateway(record: RunRecord, seconds: float) -> tuple[bool, list[int]]:
    """Stop the supervisor of `record` and every worker it recorded: SIGTERM the supervisor (or,
    when it is gone, its surviving workers) and a predecessor still draining after a rolling
    upgrade, wait up to `seconds` for all of them, then SIGKILL the stragglers. Returns
    (stopped by itself, pids killed)."""
    workers = [pid for pid in record.workers if runstate.is_worker(pid)]
    supervisors = [record.pid]
    if record.predecessor and runstate.is_supervisor(record.predecessor):
        supervisors.append(record.predecessor)
        _signal(record.predecessor, signal.SIGTERM)
    if alive(record.pid):
        os.kill(record.pid, signal.SIGTERM)
    else:
        for pid in workers:
            _signal(pid, signal.SIGTERM)
    pids = [*supervisors, *workers]
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and any(_running(p, p not in supervisors) for p in pids):
        time.sleep(0.05)
    killed = [p for p in pids if _running(p, p not in supervisors)]
    for pid in killed:
        _signal(pid, signal.SIGKILL)
    return not killed, killed


def _running(pid: int, worker: bool) -> bool:
    return runstate.is_worker(pid) if worker else alive(pid)


def _signal(pid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, sig)
