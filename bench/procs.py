"""Starting, watching and stopping the benchmark's own processes (each pinned to one core)."""

from __future__ import annotations

import os
import socket
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from cpustat import CLOCK_TICKS


class StartError(RuntimeError):
    """A service did not come up; the message says why and shows the end of its log."""


@dataclass(slots=True)
class Service:
    name: str
    proc: subprocess.Popen[bytes]
    log_path: Path

    @property
    def pid(self) -> int:
        return self.proc.pid

    def log_tail(self, lines: int = 15) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def start(
    name: str, cmd: Sequence[str], core: int, log_dir: Path, env: dict[str, str] | None = None
) -> Service:
    """Start `cmd` pinned to `core` (taskset execs it, so the pid is the program's own)."""
    log_path = log_dir / f"{name}.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            ["taskset", "-c", str(core), *cmd],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env={**os.environ, **(env or {})},
        )
    return Service(name, proc, log_path)


def stop(service: Service, grace: float = 10.0) -> None:
    if service.proc.poll() is not None:
        return
    service.proc.terminate()
    try:
        service.proc.wait(grace)
    except subprocess.TimeoutExpired:
        service.proc.kill()
        service.proc.wait()


def _check_alive(service: Service) -> None:
    if service.proc.poll() is not None:
        raise StartError(
            f"{service.name} exited with status {service.proc.returncode}; "
            f"last lines of {service.log_path}:\n{service.log_tail()}"
        )


def wait_port(service: Service, port: int, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        _check_alive(service)
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise StartError(f"{service.name} did not listen on port {port} within {timeout:.0f} s")


def wait_line(service: Service, prefix: str, timeout: float = 60.0) -> str:
    """Wait for a log line starting with `prefix`; the log is a file, so nothing can block."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            text = service.log_path.read_text(errors="replace")
        except OSError:
            text = ""
        for line in text.splitlines():
            if line.startswith(prefix):
                return line
        _check_alive(service)
        time.sleep(0.05)
    raise StartError(
        f"{service.name} printed no line starting with {prefix!r} within {timeout:.0f} s; "
        f"last lines:\n{service.log_tail()}"
    )


def serving_pid(pid: int) -> int:
    """The process doing the work: `plano up` runs a supervisor whose one worker (a child whose
    command line names `plano.runtime.worker`) serves; any other service serves itself."""
    try:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        return pid
    for child in children:
        try:
            cmdline = Path(f"/proc/{child}/cmdline").read_bytes()
        except OSError:
            continue
        if b"plano.runtime.worker" in cmdline:
            return int(child)
    return pid


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (all its threads) so far."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0.0
    fields = stat.rsplit(")", 1)[1].split()
    # fields[0] is the state (field 3 of stat); utime and stime are fields 14 and 15.
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def rss_mb(pid: int) -> float | None:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    for line in status.splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return None
