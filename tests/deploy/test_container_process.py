"""The image's entrypoint as a real process, without Docker: the Dockerfile's ENTRYPOINT and ENV,
the baked-in config (moved to free loopback ports), the image's healthcheck script, SIGTERM.

What a container adds on top (its file system, PID 1, the network namespace) needs a Docker daemon,
which this machine lacks; deploy/check builds the image where one answers.
"""

from __future__ import annotations

import contextlib
import os
import queue
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

import plano
from tests.deploy.files import (
    HEALTHCHECK,
    IMAGE_CONFIG,
    dockerfile_env,
    dockerfile_one,
    exec_form,
    load_yaml,
)

pytestmark = pytest.mark.integration

SRC = Path(plano.__file__).resolve().parents[1]
READY_WITHIN = 90.0  # seconds; generous: the machine is shared


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Entrypoint:
    def __init__(self, proc: subprocess.Popen[str], port: int, admin_port: int) -> None:
        self.proc, self.port, self.admin_port = proc, port, admin_port
        self.lines: queue.Queue[str | None] = queue.Queue()
        self.output: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def close(self) -> None:
        """Stop the gateway (SIGTERM, then SIGKILL of its whole process group, so no worker
        outlives a failed test), then release the output pipe."""
        if self.proc.poll() is None:
            self.proc.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(30)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)  # workers left behind by a failure
        self.proc.wait(30)
        self._reader.join(30)
        if not self._reader.is_alive():
            assert self.proc.stdout is not None
            self.proc.stdout.close()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put(line)
        self.lines.put(None)

    def wait_for(self, text: str, within: float) -> str:
        deadline = time.monotonic() + within
        while True:
            try:
                line = self.lines.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                pytest.fail(f"no {text!r} within {within}s:\n{''.join(self.output)}")
            if line is None:
                pytest.fail(f"exited before {text!r}:\n{''.join(self.output)}")
            self.output.append(line)
            if text in line:
                return line


@pytest.fixture
def entrypoint(tmp_path: Path) -> Iterator[Entrypoint]:
    port, admin_port = free_port(), free_port()
    config = IMAGE_CONFIG.read_text().replace("address: 0.0.0.0", "address: 127.0.0.1")
    config = config.replace("port: 12000", f"port: {port}")
    config_path = tmp_path / "etc" / "config.yaml"
    config_path.parent.mkdir()
    config_path.write_text(config)
    (tmp_path / "tmp").mkdir()
    env = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY")}
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    image_env = dockerfile_env()
    env.update({k: v for k, v in image_env.items() if k != "PATH"})
    env.update(
        {
            "PYTHONPATH": str(SRC),
            "TMPDIR": str(tmp_path / "tmp"),
            "HOME": str(tmp_path / "no-home"),  # must not be needed
            "PLANO_HOME": str(tmp_path / "tmp" / "plano"),  # the image's /tmp/plano
            "PLANO_ADMIN_ADDRESS": "127.0.0.1",  # 0.0.0.0 in the image; loopback here
            "PLANO_ADMIN_PORT": str(admin_port),
        }
    )
    entry = exec_form(dockerfile_one("ENTRYPOINT"))
    assert entry[0] == "plano"
    args = [a if a != "/etc/plano/config.yaml" else str(config_path) for a in entry[1:]]
    proc = subprocess.Popen(
        [sys.executable, "-m", "plano", *args, "--workers", "2"],
        env=env,
        cwd=tmp_path / "tmp",
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # its own process group, for the cleanup in close()
    )
    started = Entrypoint(proc, port, admin_port)
    try:
        yield started
    finally:
        started.close()


def healthcheck(admin_port: int | str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PLANO_ADMIN_PORT": str(admin_port)}
    return subprocess.run(
        [sys.executable, str(HEALTHCHECK)],
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


def test_entrypoint_serves_passes_the_healthcheck_and_drains_on_sigterm(
    entrypoint: Entrypoint, tmp_path: Path
) -> None:
    entrypoint.wait_for("plano ready", READY_WITHIN)
    assert healthcheck(entrypoint.admin_port).returncode == 0
    with urllib.request.urlopen(f"http://127.0.0.1:{entrypoint.port}/healthz", timeout=10) as r:
        assert r.status == 200
    with urllib.request.urlopen(
        f"http://127.0.0.1:{entrypoint.admin_port}/metrics", timeout=10
    ) as r:
        assert r.status == 200
    # Everything written lives under $TMPDIR (the image's /tmp): the workers' metrics files.
    assert not (tmp_path / "no-home").exists()
    metrics_dirs = list((tmp_path / "tmp").glob("plano-metrics-*"))
    assert len(metrics_dirs) == 1 and any(metrics_dirs[0].iterdir())

    entrypoint.proc.send_signal(getattr(signal, dockerfile_one("STOPSIGNAL")))
    assert entrypoint.proc.wait(timeout=30) == 0
    assert not metrics_dirs[0].exists()
    assert healthcheck(entrypoint.admin_port).returncode == 1


def test_healthcheck_fails_when_nothing_listens() -> None:
    result = healthcheck(free_port())
    assert result.returncode == 1
    assert "/healthz" in result.stderr


def test_healthcheck_follows_an_admin_port_turned_off() -> None:
    result = healthcheck("off")
    assert result.returncode == 0
    assert "off" in result.stderr


def test_compose_healthcheck_is_the_image_one() -> None:
    compose = load_yaml(HEALTHCHECK.parents[2] / "compose.yaml")
    test = compose["services"]["plano"]["healthcheck"]["test"]
    assert test == ["CMD", *exec_form(dockerfile_one("HEALTHCHECK").partition(" CMD ")[2])]
