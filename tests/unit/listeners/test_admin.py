"""The admin listener: settings from flags and environment, conflicts, and its ASGI answers."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from plano.config import load_config_text
from plano.listeners.admin import AdminApp, AdminSettings, WithAdmin, admin_conflict, admin_settings
from plano.observability.metrics import PrometheusMetrics


@pytest.mark.parametrize(
    ("flag", "address", "env", "expected"),
    [
        (None, None, {}, AdminSettings("127.0.0.1", 9901)),
        (None, None, {"PLANO_ADMIN_PORT": "9100"}, AdminSettings("127.0.0.1", 9100)),
        ("9200", None, {"PLANO_ADMIN_PORT": "9100"}, AdminSettings("127.0.0.1", 9200)),
        (None, None, {"PLANO_ADMIN_PORT": "off"}, None),
        ("OFF", None, {}, None),
        ("0", "0.0.0.0", {}, AdminSettings("0.0.0.0", 0)),
        (None, None, {"PLANO_ADMIN_ADDRESS": "::1"}, AdminSettings("::1", 9901)),
        (None, None, {"PLANO_ADMIN_PORT": " "}, AdminSettings("127.0.0.1", 9901)),
    ],
)
def test_settings(
    flag: str | None, address: str | None, env: dict[str, str], expected: AdminSettings | None
) -> None:
    assert admin_settings(flag, address, env) == expected


@pytest.mark.parametrize("bad", ["-1", "65536", "nine", "99.5"])
def test_bad_port_is_refused(bad: str) -> None:
    with pytest.raises(ValueError, match="admin port"):
        admin_settings(bad, None, {})


CONFIG = """
version: v0.4.0
listeners:
  - {name: llm, type: model, address: 127.0.0.1, port: 12000}
model_providers:
  - {model: openai/gpt-4o, access_key: k, default: true}
"""


def test_conflicts() -> None:
    config = load_config_text(CONFIG, source="t.yaml", env={})
    assert admin_conflict(config, AdminSettings(port=9901), 4) is None
    assert admin_conflict(config, None, 4) is None
    assert admin_conflict(config, AdminSettings(port=0), 1) is None
    assert "needs --workers 1" in (admin_conflict(config, AdminSettings(port=0), 2) or "")
    assert "listener 'llm'" in (admin_conflict(config, AdminSettings(port=12000), 1) or "")


def call(
    app: Any,
    method: str,
    path: str,
    headers: list[tuple[bytes, bytes]] | None = None,
    port: int = 9901,
) -> tuple[int, dict[bytes, bytes], bytes]:
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "method": method,
        "path": path,
        "headers": headers or [],
        "server": ("127.0.0.1", port),
    }
    asyncio.run(app(scope, receive, send))
    start, body = sent
    return start["status"], dict(start["headers"]), body["body"]


def test_metrics_healthz_and_everything_else() -> None:
    app = AdminApp(PrometheusMetrics(version="1.2.3"))
    status, headers, body = call(app, "GET", "/metrics")
    assert status == 200 and headers[b"content-type"].startswith(b"text/plain; version=")
    names = {f.name for f in text_string_to_metric_families(body.decode())}
    assert {"plano_build_info", "brightstaff_http_requests", "process_cpu_seconds"} <= names
    status, headers, _ = call(
        app, "GET", "/metrics", [(b"accept", b"application/openmetrics-text; version=1.0.0")]
    )
    assert headers[b"content-type"].startswith(b"application/openmetrics-text")
    assert call(app, "GET", "/healthz")[0] == 200
    assert call(app, "GET", "/stats")[0] == 404
    status, headers, _ = call(app, "POST", "/metrics")
    assert status == 405 and headers[b"allow"] == b"GET, HEAD"


def test_metrics_off_answers_404() -> None:
    assert call(AdminApp(None), "GET", "/metrics")[0] == 404
    assert call(AdminApp(None), "GET", "/healthz")[0] == 200


def test_requests_are_routed_by_the_port_they_arrived_on() -> None:
    seen: list[str] = []

    async def gateway(scope: Any, receive: Any, send: Any) -> None:
        seen.append(scope["type"])
        await send({"type": "http.response.start", "status": 299, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    app = WithAdmin(gateway, AdminApp(None), 9901)
    assert call(app, "GET", "/healthz", port=9901)[0] == 200
    assert call(app, "GET", "/healthz", port=12000)[0] == 299
    assert seen == ["http"]
