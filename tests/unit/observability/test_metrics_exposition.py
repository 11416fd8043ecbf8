"""The Prometheus sink's exposition: OpenMetrics and gzip, the multiprocess mode of
`--workers N`, and the metric names the docs and the Grafana dashboard use."""

from __future__ import annotations

import gzip
import json
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

from prometheus_client.openmetrics.parser import (
    text_string_to_metric_families as openmetrics_families,
)

from plano import __version__
from plano.observability import multiproc, names
from plano.observability.metrics import PrometheusMetrics
from tests.unit.observability.test_metrics import (
    GPT,
    HTTP,
    finish,
    samples,
    upstream_call,
    value,
)


def test_openmetrics_when_asked_and_gzip() -> None:
    m = PrometheusMetrics()
    finish(m, upstream_call())
    body, headers = m.render("application/openmetrics-text; version=1.0.0", "gzip, deflate")
    h = dict(headers)
    assert h[b"content-type"].startswith(b"application/openmetrics-text")
    assert h[b"content-encoding"] == b"gzip"
    text = gzip.decompress(body).decode()
    assert text.endswith("# EOF\n")
    families = {f.name: f for f in openmetrics_families(text)}
    assert families["brightstaff_http_requests"].type == "counter"
    plain, headers = m.render("text/plain", None)
    assert dict(headers)[b"content-type"].startswith(b"text/plain")
    assert b"# TYPE brightstaff_http_requests_total counter" in plain


_WORKER = textwrap.dedent(
    """
    import os, sys, time
    from plano.observability.metrics import build_metrics
    from plano.observability.record import RequestRecord

    m = build_metrics([("openai", "gpt-4o")])
    assert m.multiprocess
    for i in range(int(sys.argv[1])):
        r = RequestRecord("llm", "model", "POST", "/v1/chat/completions")
        r.handler, r.status = "llm_chat", 200
        r.end = r.start + 1_000_000
        m.request_started(r)
        m.request_finished(r)
    m.request_started(RequestRecord("llm", "model", "GET", "/v1/models"))  # left in flight
    m.close()
    print(os.getpid())
    """
)


def test_multiprocess_mode_sums_workers_and_drops_dead_workers_live_gauges(
    tmp_path: Path,
) -> None:
    env = {**os.environ, multiproc.ENV: str(tmp_path)}
    pids = [
        int(
            subprocess.run(
                [sys.executable, "-c", _WORKER, str(n)],
                env=env,
                capture_output=True,
                text=True,
                check=True,
            ).stdout
        )
        for n in (3, 4)
    ]
    m = PrometheusMetrics(multiprocess_dir=str(tmp_path))
    s = samples(m)
    assert (
        value(s, "brightstaff_http_requests_total", **HTTP, method="POST", status_class="2xx") == 7
    )
    assert value(s, "brightstaff_http_request_duration_seconds_count", **HTTP) == 7
    in_flight = {"listener": "llm", "handler": "not_found"}
    assert value(s, "brightstaff_http_in_flight_requests", **in_flight) == 2
    assert value(s, "plano_build_info", version=__version__) == 1
    assert value(s, "plano_upstream_retries_total", **GPT) == 0
    directory = multiproc.MetricsDir(str(tmp_path), owned=False, environ={})
    for pid in pids:
        directory.worker_exited(pid)
    s = samples(m)
    assert value(s, "brightstaff_http_in_flight_requests", **in_flight) is None
    assert (
        value(s, "brightstaff_http_requests_total", **HTTP, method="POST", status_class="2xx") == 7
    )


def test_metrics_dir_is_temporary_unless_given(tmp_path: Path) -> None:
    environ: dict[str, str] = {}
    owned = multiproc.MetricsDir.prepare(environ)
    assert environ[multiproc.ENV] == owned.path and Path(owned.path).is_dir()
    owned.close()
    assert not Path(owned.path).exists() and multiproc.ENV not in environ

    given = tmp_path / "prom"
    given.mkdir()
    (given / "counter_123.db").write_bytes(b"stale")
    (given / "keep.txt").write_text("not ours")
    environ = {multiproc.ENV: str(given)}
    kept = multiproc.MetricsDir.prepare(environ)
    assert kept.path == str(given)
    assert not (given / "counter_123.db").exists() and (given / "keep.txt").exists()
    kept.close()
    assert given.is_dir() and environ[multiproc.ENV] == str(given)


ROOT = Path(__file__).resolve().parents[3]
METRICS = {v for k, v in vars(names).items() if k.startswith("METRIC_")}


def test_every_metric_is_documented() -> None:
    text = (ROOT / "docs" / "observability.md").read_text()
    missing = [name for name in METRICS if f"| `{name}` |" not in text]
    assert not missing


def test_the_dashboard_queries_only_metrics_that_exist() -> None:
    board = json.loads((ROOT / "docs" / "grafana" / "plano-dashboard.json").read_text())
    exprs = [t["expr"] for p in board["panels"] for t in p.get("targets", [])]
    used = {
        re.sub(r"_(bucket|count|sum)$", "", found)
        for expr in exprs
        for found in re.findall(r"\b(?:brightstaff|plano)_[a-z_]+", expr)
    }
    assert used and used <= METRICS, used - METRICS
