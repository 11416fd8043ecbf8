"""`plano up [FILE]`: start the gateway, in the background by default, like the original.

Over a running gateway (recorded in the run directory), it does a rolling upgrade instead: the
running supervisor starts the new one on its sockets and retires once that one serves.

Without FILE it looks in `--path` for `config.yaml` then `plano_config.yaml`; with neither, it
synthesises a zero-config gateway from provider keys in the environment.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import TYPE_CHECKING

import click

from plano.cli import docker_mode, rundir
from plano.runtime import runstate
from plano.runtime.cpus import available_cpus
from plano.runtime.local_tracing import ENV as LOCAL_TRACING_ENV

if TYPE_CHECKING:  # the config and the gateway are imported when a command runs, not for --help
    from plano.config import Config
    from plano.listeners.admin import AdminSettings

# Shown in --help without importing the gateway (tests/unit/cli/test_lazy_imports.py checks them
# against plano.listeners.app.DEFAULT_MAX_BODY_BYTES and plano.listeners.admin.ENV_*).
DEFAULT_MAX_BODY_BYTES = 32 * 1024 * 1024
ENV_PORT = "PLANO_ADMIN_PORT"
ENV_ADDRESS = "PLANO_ADMIN_ADDRESS"

HEALTH_WAIT_SECONDS = 60.0
UPGRADE_WAIT_SECONDS = 180.0


def find_config(file: str | None, path: str) -> Path | None:
    if file:
        return Path(file)
    for name in ("config.yaml", "plano_config.yaml"):
        candidate = Path(path) / name
        if candidate.is_file():
            return candidate
    return None


def load_or_exit(config_path: Path) -> Config:
    from plano.config import ConfigError, format_report, load_config

    try:
        config = load_config(config_path)
    except ConfigError as err:
        from plano.cli.style import error_block

        error_block(format_report(err.problems, ()))
        sys.exit(1)
    except OSError as exc:
        click.echo(f"{config_path}: cannot read: {exc.strerror}", err=True)
        sys.exit(1)
    if config.missing_env:
        lines = "\n".join(f"  ${var} (used at {where})" for where, var in config.missing_env)
        click.echo(
            f"{config_path}: missing environment variables (set them in the "
            f"environment or in a .env file next to the config):\n{lines}",
            err=True,
        )
        sys.exit(1)
    return config


@click.command()
@click.argument("file", required=False, type=click.Path(dir_okay=False))
@click.option(
    "--path",
    "search_path",
    default=".",
    show_default=True,
    help="Directory searched for config.yaml / plano_config.yaml.",
)
@click.option("--foreground", is_flag=True, help="Stay attached; log to the terminal.")
@click.option(
    "--workers",
    type=click.IntRange(min=1),
    default=None,
    help="Worker processes sharing the ports (default: the CPUs this process may use).",
)
@click.option(
    "--watch",
    is_flag=True,
    help="Reload when the config file changes (its content is checked once a second).",
)
@click.option(
    "--listener-port",
    type=int,
    default=12000,
    show_default=True,
    help="Model listener port in zero-config mode.",
)
@click.option(
    "--listener-address",
    default=None,
    help="Model listener address in zero-config mode (default 127.0.0.1; in the container "
    "0.0.0.0, published on the host's 127.0.0.1). 0.0.0.0 opens it to the network.",
)
@click.option(
    "--max-body-bytes",
    type=int,
    default=None,
    help=f"Largest request body accepted (default {DEFAULT_MAX_BODY_BYTES}; "
    "env PLANO_MAX_BODY_BYTES).",
)
@click.option(
    "--admin-port",
    default=None,
    metavar="PORT|off",
    help=f"Admin listener port serving /metrics (default 9901; env {ENV_PORT}; 'off' disables).",
)
@click.option(
    "--admin-address",
    default=None,
    help=f"Admin listener address (default 127.0.0.1; env {ENV_ADDRESS}).",
)
@click.option(
    "--access-log",
    type=click.Choice(["text", "json", "off"]),
    default=None,
    help="Access log format, one line per request on the log (default text; env PLANO_ACCESS_LOG).",
)
@click.option(
    "--with-tracing",
    is_flag=True,
    help="Start the local trace receiver and trace every request to it (see `plano trace`).",
)
@click.option(
    "--tracing-port",
    type=click.IntRange(1, 65535),
    default=4317,
    show_default=True,
    help="OTLP/gRPC port of the local trace receiver (with --with-tracing).",
)
@click.option(
    "--docker",
    "in_docker",
    is_flag=True,
    help="Run the container image instead (PLANO_DOCKER_IMAGE, default plano:local).",
)
@click.option("-v", "--verbose", is_flag=True, help="Debug logging.")
def up(
    file: str | None,
    search_path: str,
    foreground: bool,
    workers: int | None,
    watch: bool,
    listener_port: int,
    listener_address: str | None,
    max_body_bytes: int | None,
    admin_port: str | None,
    admin_address: str | None,
    access_log: str | None,
    with_tracing: bool,
    tracing_port: int,
    in_docker: bool,
    verbose: bool,
) -> None:
    """Start Plano with FILE (or a config found in --path, or zero-config)."""
    from plano.config import ZERO_CONFIG_ADDRESS
    from plano.listeners.admin import admin_settings
    from plano.listeners.app import access_log_format

    if access_log is not None:
        os.environ["PLANO_ACCESS_LOG"] = access_log  # read by every worker at startup
    try:
        access_log_format(os.environ)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--access-log") from None
    try:
        admin = admin_settings(admin_port, admin_address, os.environ)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--admin-port") from None
    config_path = find_config(file, search_path)
    if config_path is None:
        address = listener_address or ("0.0.0.0" if in_docker else ZERO_CONFIG_ADDRESS)
        config_path = _write_zero_config(listener_port, address)
    config = load_or_exit(config_path)
    if in_docker:
        if with_tracing or foreground or watch:
            raise click.UsageError(
                "--docker runs detached; drop --with-tracing/--foreground/--watch"
            )
        docker_mode.up(config, config_path, workers)
        return
    if with_tracing:
        _start_local_tracing(tracing_port)
    n = workers if workers is not None else available_cpus()
    body_limit = max_body_bytes or int(
        os.environ.get("PLANO_MAX_BODY_BYTES", DEFAULT_MAX_BODY_BYTES)
    )
    if foreground:
        _serve_foreground(config, config_path, n, body_limit, admin, verbose, watch)
    else:
        _start_background(config, config_path, n, body_limit, admin, verbose, watch)


def _start_local_tracing(grpc_port: int) -> None:
    """Start (or find) the local receiver; workers read its endpoint from the environment."""
    from plano.cli.trace import DEFAULT_HTTP_PORT, start_receiver

    http_port = DEFAULT_HTTP_PORT if grpc_port == 4317 else 0  # else any free port (recorded)
    record, started = start_receiver("127.0.0.1", grpc_port, http_port)
    os.environ[LOCAL_TRACING_ENV] = f"http://127.0.0.1:{record.grpc_port}"
    what = "started" if started else "running"
    click.echo(f"trace receiver {what} (gRPC :{record.grpc_port}); see traces: plano trace")


def _write_zero_config(port: int, address: str) -> Path:
    from plano.config import render_zero_config_yaml

    target = rundir.home() / "default_config.yaml"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(render_zero_config_yaml(os.environ, port=port, address=address))
    click.echo(f"no config file found: zero-config mode, wrote {target}", err=True)
    return target


def _serve_foreground(
    config: Config,
    config_path: Path,
    workers: int,
    body_limit: int,
    admin: AdminSettings | None,
    verbose: bool,
    watch: bool,
) -> None:
    from plano.runtime.workers import serve

    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    for warning in config.warnings:
        logging.getLogger("plano").warning("%s", warning)

    def announce(line: str) -> None:
        print(line, flush=True)

    sys.exit(
        serve(
            config,
            config_path,
            workers=workers,
            max_body_bytes=body_limit,
            announce=announce,
            admin=admin,
            run_dir=rundir.run_dir(),
            watch=watch,
            verbose=verbose,
        )
    )


def _start_background(
    config: Config,
    config_path: Path,
    workers: int,
    body_limit: int,
    admin: AdminSettings | None,
    verbose: bool,
    watch: bool,
) -> None:
    log_path = rundir.log_file()
    cmd = [
        sys.executable,
        "-m",
        "plano",
        "up",
        str(config_path.resolve()),
        "--foreground",
        "--workers",
        str(workers),
        "--max-body-bytes",
        str(body_limit),
        "--admin-port",
        "off" if admin is None else str(admin.port),
    ]
    if admin is not None:
        cmd += ["--admin-address", admin.address]
    if verbose:
        cmd.append("-v")
    if watch:
        cmd.append("--watch")
    record = rundir.read_record()
    if record is not None and rundir.alive(record.pid):
        _upgrade(record, cmd, config, admin)
        return
    proc = rundir.start_detached(cmd, log_path)
    ports = [lc.port for lc in config.listeners]
    if not _wait_healthy(proc, ports):
        click.echo(f"plano failed to start; last lines of {log_path}:", err=True)
        click.echo(_tail(log_path, 20), err=True)
        if proc.poll() is None:
            proc.terminate()
        rundir.clear_record()
        sys.exit(1)
    click.echo(
        f"plano is up (pid {proc.pid}): {_names(config, admin)}\n"
        "logs: plano logs -f    stop: plano down"
    )


def _names(config: Config, admin: AdminSettings | None) -> str:
    names = ", ".join(
        f"{lc.name} ({lc.type}) http://{lc.address}:{lc.port}" for lc in config.listeners
    )
    if admin is not None:
        names += f"; metrics http://{admin.address}:{admin.port}/metrics"
    return names


def _upgrade(
    record: runstate.RunRecord, cmd: list[str], config: Config, admin: AdminSettings | None
) -> None:
    """Rolling upgrade: the running supervisor starts `cmd` (a fresh interpreter) on its sockets
    and retires once the new one serves; see docs/operations.md."""
    run = rundir.run_dir()
    seq = time.time_ns()
    runstate.write_json(run / runstate.UPGRADE_REQUEST, {"seq": seq, "argv": cmd})
    click.echo(f"plano is running (pid {record.pid}): rolling upgrade to {cmd[4]}", err=True)
    os.kill(record.pid, signal.SIGUSR2)
    deadline = time.monotonic() + UPGRADE_WAIT_SECONDS
    status = None
    while status is None and time.monotonic() < deadline:
        found = runstate.read_json(run / runstate.UPGRADE_STATUS)
        if found is not None and found.get("seq") == seq:
            status = found
        elif not rundir.alive(record.pid):
            click.echo(f"plano (pid {record.pid}) exited during the upgrade", err=True)
            sys.exit(1)
        else:
            time.sleep(0.1)
    if status is None:
        click.echo(f"no answer from plano (pid {record.pid}) within {UPGRADE_WAIT_SECONDS:.0f} s",
                   err=True)  # fmt: skip
        sys.exit(1)
    if not status.get("ok"):
        click.echo(
            f"upgrade failed, pid {record.pid} keeps serving: {status.get('error')}", err=True
        )
        click.echo(f"see {rundir.log_file()}", err=True)
        sys.exit(1)
    click.echo(
        f"plano is up (pid {status.get('new_pid')}, upgraded from pid {record.pid}, which drains "
        f"and exits): {_names(config, admin)}"
    )


def _wait_healthy(proc: subprocess.Popen[bytes], ports: list[int]) -> bool:
    """Poll each listener's /healthz until all answer 200 or the process dies."""
    deadline = time.monotonic() + HEALTH_WAIT_SECONDS
    pending = list(ports)
    while pending and time.monotonic() < deadline:
        if proc.poll() is not None:
            return False
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{pending[0]}/healthz", timeout=1):
                pending.pop(0)
                continue
        except OSError:
            time.sleep(0.1)
    return not pending


def _tail(path: Path, lines: int) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"
