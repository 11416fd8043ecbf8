"""`plano trace`: a local OTLP receiver (`listen`, `down`) and a query command (reference §9.4).

    plano trace listen [--foreground]          # receiver on 127.0.0.1:4317 (gRPC), :4318 (HTTP)
    plano trace [last|any|TRACE_ID|SHORT_ID] [--filter GLOB]... [--where KEY=VALUE]...
                [--flagged] [--model GLOB] [--service GLOB] [--status CODE|error] [--since 5m]
                [--limit N] [--list]
                [--json] [-v] [--no-interactive]
    plano trace down

The query talks to the receiver's HTTP port: `PLANO_TRACE_PORT`, else the port of the receiver
started by `plano trace listen`, else 4318.
"""

from __future__ import annotations

import json
import os
import re
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click

from plano.cli import rundir

START_WAIT_SECONDS = 15.0
STOP_SECONDS = 5.0
DEFAULT_HTTP_PORT = 4318
_HEX = re.compile(r"^[0-9a-fA-F]{8,32}$")


@dataclass(frozen=True)
class ReceiverRecord:
    pid: int
    host: str
    grpc_port: int
    http_port: int


def pid_file() -> Path:
    return rundir.run_dir() / "trace.pid"


def read_record() -> ReceiverRecord | None:
    try:
        raw = json.loads(pid_file().read_text())
        return ReceiverRecord(
            int(raw["pid"]), str(raw["host"]), int(raw["grpc_port"]), int(raw["http_port"])
        )
    except (OSError, ValueError, KeyError, TypeError):
        return None


class _TraceGroup(click.Group):
    """`plano trace ARGS` without a subcommand name runs `plano trace show ARGS`."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if not args or (args[0] not in self.commands and args[0] not in ("-h", "--help")):
            args = ["show", *args]
        return super().parse_args(ctx, args)


@click.group(cls=_TraceGroup)
def trace() -> None:
    """See traces locally: `plano trace listen`, then `plano trace` after sending requests."""


@trace.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--grpc-port", type=int, default=4317, show_default=True, help="0 = any free port.")
@click.option("--http-port", type=int, default=4318, show_default=True, help="0 = any free port.")
@click.option(
    "--capacity",
    type=click.IntRange(1, 10000),
    default=50,
    show_default=True,
    help="Traces kept (the oldest are forgotten).",
)
@click.option("--foreground", is_flag=True, help="Stay attached until Ctrl-C.")
@click.option("--pid-file", "pid_path", hidden=True, default=None)
def listen(
    host: str, grpc_port: int, http_port: int, capacity: int, foreground: bool, pid_path: str | None
) -> None:
    """Run an OTLP receiver (gRPC and HTTP) keeping the last traces in memory."""
    if foreground:
        _listen_foreground(host, grpc_port, http_port, capacity, pid_path)
        return
    record, started = start_receiver(host, grpc_port, http_port, capacity)
    if not started:
        click.echo(
            f"the trace receiver is already running (pid {record.pid}, gRPC "
            f"{record.host}:{record.grpc_port}, HTTP {record.host}:{record.http_port})"
        )
        return
    click.echo(
        f"trace receiver up (pid {record.pid}): OTLP gRPC {host}:{record.grpc_port}, "
        f"OTLP HTTP + query {host}:{record.http_port}\n"
        "see traces: plano trace    stop: plano trace down"
    )


def start_receiver(
    host: str, grpc_port: int, http_port: int, capacity: int = 50
) -> tuple[ReceiverRecord, bool]:
    """The running receiver, started in the background if there is none (then True)."""
    record = read_record()
    if record is not None and rundir.alive(record.pid):
        return record, False
    pid_file().unlink(missing_ok=True)
    log_path = rundir.log_file().with_name("trace.log")
    cmd = [
        sys.executable,
        "-m",
        "plano",
        "trace",
        "listen",
        "--foreground",
        "--host",
        host,
        "--grpc-port",
        str(grpc_port),
        "--http-port",
        str(http_port),
        "--capacity",
        str(capacity),
        "--pid-file",
        str(pid_file()),
    ]
    proc = rundir.start_detached(cmd, log_path)
    deadline = time.monotonic() + START_WAIT_SECONDS
    while (record := read_record()) is None or record.pid != proc.pid:
        if proc.poll() is not None or time.monotonic() > deadline:
            if proc.poll() is None:
                proc.terminate()
            tail = log_path.read_text(errors="replace").strip().splitlines()[-5:]
            raise click.ClickException("the trace receiver failed to start:\n" + "\n".join(tail))
        time.sleep(0.05)
    return record, True


def _listen_foreground(
    host: str, grpc_port: int, http_port: int, capacity: int, pid_path: str | None
) -> None:
    from plano.tracecollector.run import serve
    from plano.tracecollector.server import Collector

    def announce(collector: Collector) -> None:
        if pid_path:
            Path(pid_path).write_text(
                json.dumps(
                    {
                        "pid": os.getpid(),
                        "host": host,
                        "grpc_port": collector.grpc_port,
                        "http_port": collector.http_port,
                    }
                )
            )
        print(
            f"plano trace listening: OTLP gRPC {host}:{collector.grpc_port}, "
            f"OTLP HTTP and query http://{host}:{collector.http_port}",
            flush=True,
        )

    try:
        serve(host, grpc_port, http_port, capacity, announce)
    except OSError as exc:
        click.echo(f"plano trace listen: {exc}", err=True)
        sys.exit(2)
    finally:
        if pid_path and (rec := read_record()) is not None and rec.pid == os.getpid():
            Path(pid_path).unlink(missing_ok=True)


@trace.command(name="down")
def down() -> None:
    """Stop the receiver started by `plano trace listen`."""
    record = read_record()
    if record is None or not rundir.alive(record.pid):
        pid_file().unlink(missing_ok=True)
        click.echo("the trace receiver is not running")
        return
    rundir.stop(record.pid, STOP_SECONDS)
    pid_file().unlink(missing_ok=True)
    click.echo(f"trace receiver (pid {record.pid}) stopped")


trace.add_command(down, name="stop")


def query_url() -> str:
    port_env = os.environ.get("PLANO_TRACE_PORT", "").strip()
    record = read_record()
    host = "127.0.0.1"
    if port_env:
        port = int(port_env)
    elif record is not None and rundir.alive(record.pid):
        port = record.http_port
        host = record.host if record.host not in ("0.0.0.0", "::", "") else host
    else:
        port = DEFAULT_HTTP_PORT
    return f"http://{host}:{port}"


def fetch(params: list[tuple[str, str]]) -> list[dict[str, Any]]:
    url = f"{query_url()}/api/traces?{urllib.parse.urlencode(params)}"
    try:
        with urllib.request.urlopen(url, timeout=10) as resp:
            traces: list[dict[str, Any]] = json.loads(resp.read())["traces"]
            return traces
    except urllib.error.HTTPError as exc:
        detail = json.loads(exc.read() or b"{}").get("error", exc.reason)
        raise click.ClickException(f"the trace receiver refused the query: {detail}") from None
    except OSError as exc:
        raise click.ClickException(
            f"no trace receiver at {query_url()} ({exc}); start one with `plano trace listen` "
            "(or set PLANO_TRACE_PORT)"
        ) from None


@trace.command(name="show")
@click.argument("target", required=False, default="last")
@click.option(
    "--filter",
    "filters",
    multiple=True,
    metavar="GLOB",
    help="Show only attributes whose key matches (llm.*, http.status_code); repeatable, "
    "or comma-separated.",
)
@click.option(
    "--where",
    "wheres",
    multiple=True,
    metavar="KEY=VALUE",
    help="Only traces with a span whose attribute KEY equals VALUE; repeatable (all must hold).",
)
@click.option(
    "--flagged",
    is_flag=True,
    help="Only traces with a request flagged by agentic signals (🚩: poor or severe quality, "
    "disengagement, stagnation, tool failures or loops).",
)
@click.option("--model", help="Only traces with a span whose model matches this glob.")
@click.option(
    "--service",
    metavar="GLOB",
    help="Only traces with a span of a matching service ('plano*': Plano's own). Traces "
    "without any Plano span are marked [not Plano: SERVICE].",
)
@click.option("--status", help="Only traces with this HTTP status code, or 'error'.")
@click.option("--since", help="Only traces started within this long: 30s, 5m, 2h, 1d.")
@click.option("--limit", type=click.IntRange(1, 10000), default=20, show_default=True)
@click.option("--list", "as_list", is_flag=True, help="One line per trace.")
@click.option("--json", "as_json", is_flag=True, help="The traces as JSON.")
@click.option("-v", "--verbose", is_flag=True, help="Every attribute, values uncut.")
@click.option(
    "--no-interactive", is_flag=True, help="Accepted for compatibility: nothing here prompts."
)
def show(
    target: str,
    filters: tuple[str, ...],
    wheres: tuple[str, ...],
    flagged: bool,
    model: str | None,
    service: str | None,
    status: str | None,
    since: str | None,
    limit: int,
    as_list: bool,
    as_json: bool,
    verbose: bool,
    no_interactive: bool,
) -> None:
    """Show TARGET: `last` (default), `any` (all matching), or a trace id (32 hex, or a prefix
    of at least 8)."""
    from plano.tracecollector.render import parse_since, parse_where, render_list, render_tree

    params: list[tuple[str, str]] = [("limit", str(limit))]
    by_id = target not in ("last", "any")
    if target == "last" and not as_list:
        params = [("limit", "1")]
    elif by_id:
        if not _HEX.match(target):
            raise click.BadParameter(
                "use last, any, a 32-hex trace id or an 8-hex short id", param_hint="TARGET"
            )
        params.append(("trace_id", target.lower()))
    patterns = _filter_patterns(filters)
    for text in wheres:
        try:
            key, value = parse_where(text)
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint="--where") from None
        params.append(("where", f"{key}={value}"))
    params += [(k, v) for k, v in (("model", model), ("service", service)) if v]
    if flagged:
        params.append(("flagged", "1"))
    if status:
        if status != "error" and not status.isdigit():
            raise click.BadParameter("an HTTP status code or 'error'", param_hint="--status")
        params.append(("status", status))
    if since:
        try:
            params.append(("since", str(parse_since(since))))
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint="--since") from None
    traces = fetch(params)
    if patterns:
        _warn_unmatched(patterns, traces)
    if as_json:
        if as_list:
            click.echo(json.dumps({"trace_ids": [t["trace_id"] for t in traces]}, indent=2))
        else:
            shown = [_only_attributes(t, patterns) for t in traces] if patterns else traces
            click.echo(json.dumps({"traces": shown}, indent=2))
    elif as_list:
        if traces:
            click.echo(render_list(traces, click.style))
    else:
        trees = (render_tree(t, click.style, verbose, patterns) for t in traces)
        click.echo("\n\n".join(trees), nl=bool(traces))
    if not traces:
        if by_id and not (wheres or flagged or model or service or status or since):
            click.echo(
                f"no trace {target.lower()} in the receiver (it keeps only the most recent "
                "traces; `plano trace any --list` shows them)",
                err=True,
            )
        else:
            click.echo(no_traces_hint(), err=True)
        sys.exit(1)


def _filter_patterns(filters: tuple[str, ...]) -> list[str]:
    patterns = []
    for raw in filters:
        for part in raw.split(","):
            if not part.strip():
                raise click.BadParameter(f"{raw!r} has an empty pattern", param_hint="--filter")
            patterns.append(part.strip())
    return patterns


def _only_attributes(trace: dict[str, Any], patterns: list[str]) -> dict[str, Any]:
    """The trace with each span's attributes cut down to the keys matching a pattern."""
    from plano.tracecollector.render import key_matches

    spans = []
    for span in trace["spans"]:
        kept = {k: v for k, v in span["attributes"].items() if key_matches(k, patterns)}
        spans.append({**span, "attributes": kept})
    return {**trace, "spans": spans}


def _warn_unmatched(patterns: list[str], traces: list[dict[str, Any]]) -> None:
    from plano.tracecollector.render import key_matches

    keys = {k for t in traces for s in t["spans"] for k in s["attributes"]}
    unmatched = [p for p in patterns if not any(key_matches(k, [p]) for k in keys)]
    if traces and unmatched:
        click.echo(
            f"--filter: no attribute key of these traces matches {', '.join(unmatched)}",
            err=True,
        )


def no_traces_hint() -> str:
    """What to check when nothing matches: spans wait in the gateway's export batch first."""
    from plano.observability.span_batch import DEFAULT_DELAY_MS, LOCAL_DELAY_MS

    return (
        "no matching traces yet. The gateway sends spans in batches: they arrive within "
        f"~{LOCAL_DELAY_MS / 1000:g} s of a request when the receiver is on this machine "
        f"(~{DEFAULT_DELAY_MS / 1000:g} s for a remote endpoint; OTEL_BSP_SCHEDULE_DELAY sets it), "
        "so try again in a moment. If none ever arrive: is tracing on (`plano up "
        "--with-tracing`, or `tracing.random_sampling` > 0) with the endpoint pointing at this "
        "receiver?"
    )
