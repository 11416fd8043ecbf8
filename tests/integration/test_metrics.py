"""`GET /metrics` on the admin listener, end to end: the official OpenAI SDK drives a real gateway
against the fake upstream, and prometheus-client's own parser reads the scrape.

Once in-process (one worker, metrics in memory) and once as `plano up --workers 2` (multiprocess
mode), where every scrape must show the whole gateway's counts, whichever worker answers it.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import openai
import pytest
from prometheus_client import CollectorRegistry
from prometheus_client.exposition import generate_latest
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.parser import text_string_to_metric_families

from plano import __version__
from tests.conftest import GatewayFactory

pytestmark = pytest.mark.integration

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]
MESSAGES = [{"role": "user", "content": "hi"}]
HTTP = {"listener": "llm", "handler": "llm_chat"}
GPT = {"provider": "openai", "model": "gpt-4o"}
USAGE = {"prompt_tokens": 11, "completion_tokens": 7}


def parse(text: str) -> Samples:
    out: Samples = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, frozenset(s.labels.items()))] = s.value
    return out


def value(s: Samples, name: str, **labels: str) -> float | None:
    return s.get((name, frozenset(labels.items())))


def scrape(admin_url: str) -> Samples:
    with urllib.request.urlopen(f"{admin_url}/metrics", timeout=10) as resp:
        assert resp.status == 200
        assert resp.headers["content-type"].startswith("text/plain")
        return parse(resp.read().decode())


def scrape_until(admin_url: str, done: Callable[[Samples], bool], timeout: float = 10) -> Samples:
    """Scrape until `done` holds (or `timeout` passes: the caller's asserts then fail). With
    workers, a scrape shows the other workers' requests once their once-a-second flush ran."""
    deadline = time.monotonic() + timeout
    pause = threading.Event()
    while True:
        s = scrape(admin_url)
        if done(s) or time.monotonic() > deadline:
            return s
        pause.wait(0.05)


def config(upstream: Any, port: int = 0) -> str:
    return f"""
version: v0.4.0
listeners:
  - {{name: llm, type: model, address: 127.0.0.1, port: {port}, timeout: 20s}}
model_providers:
  - model: openai/gpt-4o
    access_key: sk-upstream-secret
    base_url: {upstream.base_url}
    default: true
  - model: openai/gpt-4o-mini
    access_key: sk-upstream-secret
    base_url: {upstream.base_url}
"""


def chat(base_url: str, **kw: Any) -> Any:
    """One call on a fresh client (a new connection); a stream is read to its end."""
    with openai.OpenAI(base_url=f"{base_url}/v1", api_key="k", max_retries=0) as c:
        result = c.chat.completions.create(model="gpt-4o", messages=MESSAGES, **kw)
        return list(result) if kw.get("stream") else result


def get_status(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=10) as resp:
            return int(resp.status)
    except urllib.error.HTTPError as err:
        err.close()
        return err.code


def test_in_process_gateway_counts_what_it_served(upstream: Any, gateway: GatewayFactory) -> None:
    upstream.script(
        {"usage": USAGE},
        {"usage": {"prompt_tokens": 5, "completion_tokens": 3}, "text": "a b c", "chunks": 3},
        {"status": 503},
    )
    with gateway(config(upstream)) as gw:
        before = scrape(gw.admin_url)
        assert value(before, "plano_upstream_retries_total", **GPT) == 0  # configured: at 0
        assert value(before, "brightstaff_llm_tokens_total", **GPT, kind="prompt") == 0
        assert chat(gw.url()).usage.completion_tokens == 7
        chunks = chat(gw.url(), stream=True, stream_options={"include_usage": True})
        assert chunks[-1].usage.completion_tokens == 3
        with pytest.raises(openai.InternalServerError):
            chat(gw.url())
        assert get_status(f"{gw.url()}/no/such/path") == 404
        s = scrape_until(
            gw.admin_url,
            lambda s: value(s, "brightstaff_http_request_duration_seconds_count", **HTTP) == 3,
        )
        assert get_status(f"{gw.url()}/metrics") == 404  # never on a public listener
        assert get_status(f"{gw.admin_url}/healthz") == 200
        assert get_status(f"{gw.admin_url}/v1/models") == 404

    req = "brightstaff_http_requests_total"
    assert value(s, req, **HTTP, method="POST", status_class="2xx") == 2
    assert value(s, req, **HTTP, method="POST", status_class="5xx") == 1
    not_found = {"listener": "llm", "handler": "not_found"}
    assert value(s, req, **not_found, method="GET", status_class="4xx") == 1
    up = "brightstaff_llm_upstream_requests_total"
    assert value(s, up, **GPT, status_class="2xx", error_class="none") == 2
    assert value(s, up, **GPT, status_class="5xx", error_class="none") == 1
    assert value(s, "brightstaff_llm_upstream_duration_seconds_count", **GPT) == 3
    assert value(s, "brightstaff_llm_time_to_first_token_seconds_count", **GPT) == 1
    assert value(s, "brightstaff_llm_tokens_total", **GPT, kind="prompt") == 16
    assert value(s, "brightstaff_llm_tokens_total", **GPT, kind="completion") == 10
    assert value(s, "brightstaff_llm_tokens_usage_missing_total", **GPT) == 0
    assert value(s, "plano_time_per_output_token_seconds_count", **GPT) == 2
    assert value(s, "plano_request_errors_total", listener="llm", provider="openai",
                 kind="upstream_status") == 1  # fmt: skip
    # Added latency: whole responses (the 200 and the 503, and the 404) vs the stream's first
    # chunk; the gateway's share is far below the largest bucket.
    assert value(s, "plano_overhead_seconds_count", **HTTP) == 2
    assert value(s, "plano_overhead_seconds_count", **not_found) == 1
    assert value(s, "plano_added_ttfc_seconds_count", **GPT) == 1
    assert value(s, "plano_added_ttfc_seconds_bucket", **GPT, le="1.0") == 1
    assert value(s, "brightstaff_http_in_flight_requests", **HTTP) == 0
    assert value(s, "plano_active_streams", **GPT) == 0
    assert value(s, "plano_upstream_retries_total", **GPT) == 0
    assert value(s, "plano_build_info", version=__version__) == 1


def test_open_stream_is_active_and_in_flight(upstream: Any, gateway: GatewayFactory) -> None:
    # The head and first event go out at once; the next one would take 10 s: we leave before.
    upstream.script({"text": "a b", "chunks": 2, "chunk_delay_ms": 10_000})
    with gateway(config(upstream)) as gw:
        with openai.OpenAI(base_url=f"{gw.url()}/v1", api_key="k", max_retries=0) as c:
            stream = c.chat.completions.create(model="gpt-4o", messages=MESSAGES, stream=True)
            next(iter(stream))
            s = scrape(gw.admin_url)
            stream.close()
        assert value(s, "plano_active_streams", **GPT) == 1
        assert value(s, "brightstaff_http_in_flight_requests", **HTTP) == 1


def test_admin_listener_can_be_left_out(upstream: Any, gateway: GatewayFactory) -> None:
    with gateway(config(upstream), admin=None) as gw:
        assert gw.admin is None
        with pytest.raises(LookupError):
            _ = gw.admin_url


# -- `plano up --workers 2` as a real process ------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def plano_up(tmp_path: Path) -> Iterator[Callable[..., tuple[subprocess.Popen[str], str]]]:
    procs: list[subprocess.Popen[str]] = []

    def start(cfg: Path, *args: str) -> tuple[subprocess.Popen[str], str]:
        env = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY")}
        env.pop("PROMETHEUS_MULTIPROC_DIR", None)
        env.update(PLANO_HOME=str(tmp_path / "home"), PLANO_ACCESS_LOG="off")
        proc = subprocess.Popen(
            [sys.executable, "-m", "plano", "up", str(cfg), "--foreground", *args],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,  # its own process group: teardown reaches the workers too
        )
        procs.append(proc)
        assert proc.stdout is not None
        seen = []
        for line in proc.stdout:  # the ready line is our synchronisation point
            seen.append(line)
            if line.startswith("plano ready"):
                return proc, line
        raise AssertionError(f"gateway exited before it was ready: {''.join(seen)}")

    yield start
    for proc in procs:
        if proc.poll() is None:  # a failed test: stop the supervisor and its workers
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=12)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()


def worker_metrics_dir(supervisor: int) -> tuple[list[int], Path]:
    """The worker pids and the metrics directory they inherited (Linux /proc)."""
    children = subprocess.run(
        ["pgrep", "-P", str(supervisor)], capture_output=True, text=True, check=False
    ).stdout.split()
    dirs = set()
    for pid in children:
        for entry in Path(f"/proc/{pid}/environ").read_bytes().split(b"\0"):
            if entry.startswith(b"PROMETHEUS_MULTIPROC_DIR="):
                dirs.add(entry.split(b"=", 1)[1].decode())
    assert len(dirs) == 1, dirs
    return [int(p) for p in children], Path(dirs.pop())


def requests_served_by(directory: Path, pid: int, tmp: Path) -> float:
    """`llm_chat` requests counted by one worker alone, read from its own sample file."""
    alone = tmp / f"worker-{pid}"
    alone.mkdir()
    shutil.copy(directory / f"counter_{pid}.db", alone)
    registry = CollectorRegistry()
    MultiProcessCollector(registry, path=str(alone))  # type: ignore[no-untyped-call]
    s = parse(generate_latest(registry).decode())
    return value(s, "brightstaff_http_requests_total", **HTTP, method="POST",
                 status_class="2xx") or 0  # fmt: skip


def test_two_workers_report_the_whole_gateway(tmp_path: Path, upstream: Any, plano_up: Any) -> None:
    port, admin_port = free_port(), free_port()
    cfg = tmp_path / "plano_config.yaml"
    cfg.write_text(config(upstream, port))
    upstream.script({"usage": USAGE, "times": 0})
    proc, ready = plano_up(cfg, "--workers", "2", "--admin-port", str(admin_port))
    admin_url = f"http://127.0.0.1:{admin_port}"
    assert f"metrics on {admin_url}/metrics" in ready
    base = f"http://127.0.0.1:{port}"
    for _ in range(20):
        chat(base)
    for _ in range(4):
        chat(base, stream=True, stream_options={"include_usage": True})
    assert get_status(f"{base}/no/such/path") == 404

    def complete(s: Samples) -> bool:
        return value(s, "brightstaff_http_request_duration_seconds_count", **HTTP) == 24

    # New connections, so the kernel spreads the scrapes over both workers too: each answers
    # for the whole gateway.
    for _ in range(6):
        s = scrape_until(admin_url, complete)
        assert value(s, "brightstaff_http_requests_total", **HTTP, method="POST",
                     status_class="2xx") == 24  # fmt: skip
        assert value(s, "brightstaff_llm_tokens_total", **GPT, kind="prompt") == 24 * 11
        assert value(s, "brightstaff_llm_tokens_total", **GPT, kind="completion") == 24 * 7
        assert value(s, "brightstaff_llm_time_to_first_token_seconds_count", **GPT) == 4
        assert value(s, "plano_added_ttfc_seconds_count", **GPT) == 4
        assert value(s, "plano_overhead_seconds_count", **HTTP) == 20
        assert value(s, "brightstaff_http_in_flight_requests", **HTTP) == 0
        assert value(s, "plano_active_streams", **GPT) == 0
        assert value(s, "plano_build_info", version=__version__) == 1
        assert value(s, "plano_upstream_ejections_total", provider="openai",
                     model="gpt-4o-mini") == 0  # fmt: skip

    workers, directory = worker_metrics_dir(proc.pid)
    served = [
        requests_served_by(directory, pid, tmp_path)
        for pid in workers
        if (directory / f"counter_{pid}.db").exists()
    ]
    assert len(served) == 2 and all(n > 0 for n in served), served  # both workers served
    assert sum(served) == 24
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=12) == 0
    assert not directory.exists()  # the run's metrics directory goes with it


@pytest.mark.parametrize("workers", ["1", "2"])
def test_a_taken_admin_port_is_refused(tmp_path: Path, upstream: Any, workers: str) -> None:
    cfg = tmp_path / "plano_config.yaml"
    cfg.write_text(config(upstream, free_port()))
    with socket.socket() as holder:
        holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)  # even a sharing one
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        taken = holder.getsockname()[1]
        env = {**os.environ, "PLANO_HOME": str(tmp_path / "home")}
        result = subprocess.run(
            [sys.executable, "-m", "plano", "up", str(cfg), "--foreground", "--workers", workers],
            env={**env, "PLANO_ADMIN_PORT": str(taken)},
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    assert result.returncode == 1
    assert f"admin listener cannot bind 127.0.0.1:{taken}" in result.stdout
