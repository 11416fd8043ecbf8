"""`--docker` on `up`, `down`, `logs` and `build`: the same gateway, in the container image.

The image is the repository's `Dockerfile` (`plano build --docker` builds it as `plano:local`;
`PLANO_DOCKER_IMAGE` names another). `up --docker` runs it detached as container `plano`, the
config mounted read-only at `/etc/plano/config.yaml`, every listener port and the admin port
published on 127.0.0.1 (as the original publishes its ports), and the environment variables the
config names passed through. When Docker is missing or its daemon does not answer, each command
says so and what to do instead, and exits 1.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Final

import click

if TYPE_CHECKING:
    from plano.config import Config

CONTAINER: Final = "plano"
DEFAULT_IMAGE: Final = "plano:local"
CONFIG_IN_IMAGE: Final = "/etc/plano/config.yaml"
ADMIN_PORT: Final = 9901


def image() -> str:
    return os.environ.get("PLANO_DOCKER_IMAGE", DEFAULT_IMAGE)


def docker() -> str:
    """The docker executable, once its daemon answered; else a ClickException saying what to do."""
    exe = shutil.which("docker")
    if exe is None:
        raise click.ClickException(
            "--docker needs Docker, which is not installed; run without --docker (Plano runs "
            "natively: plano up FILE) or install Docker (https://docs.docker.com/get-docker/)"
        )
    probe = subprocess.run(
        [exe, "info", "--format", "{{.ServerVersion}}"],
        capture_output=True,
        text=True,
        timeout=20,
        check=False,
    )
    if probe.returncode != 0:
        raise click.ClickException(
            "--docker: the Docker daemon does not answer (is it running? can this user reach "
            "it?); run without --docker to start Plano natively"
        )
    return exe


def run_args(
    config: Config, config_path: Path, env: Mapping[str, str], workers: int | None
) -> list[str]:
    """`docker run` arguments for `config` (what `up --docker` runs, after the executable)."""
    from plano.config.env import variables_in

    args = ["run", "-d", "--name", CONTAINER, "--read-only", "--tmpfs", "/tmp"]
    ports = sorted({lc.port for lc in config.listeners} | {ADMIN_PORT})
    for port in ports:
        args += ["-p", f"127.0.0.1:{port}:{port}"]
    args += ["-v", f"{config_path.resolve()}:{CONFIG_IN_IMAGE}:ro"]
    for name in variables_in(config_path.read_text(encoding="utf-8")):
        if name in env:
            args += ["-e", name]  # the value comes from this environment, not the command line
    args += ["--add-host", "host.docker.internal:host-gateway", image()]
    if workers is not None:
        args += ["--workers", str(workers)]
    return args


def up(config: Config, config_path: Path, workers: int | None) -> None:
    exe = docker()
    subprocess.run([exe, "rm", "-f", CONTAINER], capture_output=True, check=False)
    started = subprocess.run(
        [exe, *run_args(config, config_path, os.environ, workers)],
        capture_output=True,
        text=True,
        check=False,
    )
    if started.returncode != 0:
        detail = started.stderr.strip().splitlines()[-1:] or ["(no output)"]
        hint = ""
        if "Unable to find image" in started.stderr or "pull access denied" in started.stderr:
            hint = (
                "\nbuild the image first: plano build --docker (in the repository), "
                "or set PLANO_DOCKER_IMAGE"
            )
        raise click.ClickException(f"docker run failed: {detail[0]}{hint}")
    click.echo(f"plano started in container '{CONTAINER}' ({image()}); stop: plano down --docker")


def down() -> None:
    exe = docker()
    stopped = subprocess.run(
        [exe, "stop", "-t", "15", CONTAINER], capture_output=True, text=True, check=False
    )
    subprocess.run([exe, "rm", "-f", CONTAINER], capture_output=True, check=False)
    if stopped.returncode != 0:
        click.echo("plano is not running in Docker")
    else:
        click.echo(f"container '{CONTAINER}' stopped")


def logs(follow: bool, lines: int) -> None:
    exe = docker()
    follow_flag = ["-f"] if follow else []
    raise SystemExit(subprocess.call([exe, "logs", "--tail", str(lines), *follow_flag, CONTAINER]))


def build(context: Path) -> None:
    exe = docker()
    if not (context / "Dockerfile").is_file():
        raise click.ClickException(
            f"no Dockerfile in {context}: run `plano build --docker` in a checkout of the Plano "
            "repository (or pull an image and set PLANO_DOCKER_IMAGE)"
        )
    raise SystemExit(subprocess.call([exe, "build", "-t", image(), str(context)]))
