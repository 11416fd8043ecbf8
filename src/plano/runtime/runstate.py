"""Files a running supervisor shares with the CLI in its run directory (`$PLANO_HOME/run`).

- `plano.pid`: the run record (supervisor pid, config, ports, worker pids, generation, and the
  predecessor still draining after a rolling upgrade), written by
  the supervisor when it starts and whenever its workers change; `plano down` and `plano reload`
  find the gateway through it, even a stale one whose workers outlived a killed supervisor.
- `reload.json`: the outcome of the latest reload (`seq`, generation, ok, error text, time).
- `upgrade-request.json` / `upgrade.json`: the command line of a rolling upgrade asked by
  `plano up`, and its outcome.

Every write goes to a temporary file first and is renamed into place, so a reader never sees half
a file.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

RECORD: Final = "plano.pid"
RELOAD_STATUS: Final = "reload.json"
UPGRADE_REQUEST: Final = "upgrade-request.json"
UPGRADE_STATUS: Final = "upgrade.json"


@dataclass(frozen=True)
class RunRecord:
    pid: int
    config: str
    ports: list[int]
    workers: list[int] = field(default_factory=list)
    generation: int = 0
    predecessor: int = 0  # after a rolling upgrade: the old supervisor, while it drains


def write_json(path: Path, data: dict[str, Any]) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(data))
    os.replace(tmp, path)


def read_json(path: Path) -> dict[str, Any] | None:
    try:
        raw = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return raw if isinstance(raw, dict) else None


def read_record(run_dir: Path) -> RunRecord | None:
    raw = read_json(run_dir / RECORD)
    if raw is None:
        return None
    try:
        return RunRecord(
            int(raw["pid"]),
            str(raw["config"]),
            [int(p) for p in raw["ports"]],
            [int(p) for p in raw.get("workers", [])],
            int(raw.get("generation", 0)),
            int(raw.get("predecessor", 0)),
        )
    except (ValueError, KeyError, TypeError):
        return None


def write_record(run_dir: Path, record: RunRecord) -> None:
    write_json(
        run_dir / RECORD,
        {
            "pid": record.pid,
            "config": record.config,
            "ports": record.ports,
            "workers": record.workers,
            "generation": record.generation,
            "predecessor": record.predecessor,
        },
    )


def clear_record(run_dir: Path, pid: int | None = None) -> None:
    """Remove the record; with `pid`, only when it still names that process."""
    if pid is not None:
        record = read_record(run_dir)
        if record is None or record.pid != pid:
            return
    (run_dir / RECORD).unlink(missing_ok=True)


def write_status(path: Path, *, seq: int, generation: int, error: str | None, **extra: Any) -> None:
    write_json(
        path,
        {
            "seq": seq,
            "generation": generation,
            "ok": error is None,
            "error": error,
            "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            **extra,
        },
    )


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def is_supervisor(pid: int) -> bool:
    """True if `pid` is a live `plano up` process (a recycled pid is not mistaken for one)."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    named = any(
        a in (b"plano", b"planoai") or a.endswith((b"/plano", b"/planoai")) for a in cmdline
    )
    return named and b"up" in cmdline


def is_worker(pid: int) -> bool:
    """True if `pid` is a live Plano worker process (its command line names the worker module),
    so a recycled pid is never mistaken for one."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False
    return b"plano.runtime.worker" in cmdline
