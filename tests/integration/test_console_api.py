"""The web console's JSON API on the admin listener (no browser): what it answers, the token, bad
queries, that public listeners do not serve it, and that with `plano up --workers 2` it shows
every worker's requests."""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request
import webbrowser
from pathlib import Path
from typing import Any

import openai
import pytest

from tests.conftest import GatewayFactory
from tests.integration.keys_support import ADMIN_TOKEN, create_key, keys_config
from tests.integration.test_metrics import (
    USAGE,
    chat,
    config,
    free_port,
    get_status,
    plano_up,
)

pytestmark = pytest.mark.integration
__all__ = ["plano_up"]  # the fixture, imported

TOKEN = "console-token-0123456789"


def get(url: str, token: str | None = None) -> tuple[int, Any]:
    request = urllib.request.Request(url)
    if token:
        request.add_header("authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=10) as resp:
            return int(resp.status), json.loads(resp.read())
    except urllib.error.HTTPError as err:
        with err:
            return err.code, json.loads(err.read())


def rows_until(
    admin: str, count: int, timeout: float = 30, token: str | None = None
) -> list[dict[str, Any]]:
    """The console's rows once it shows `count` requests (or `timeout` passes: the caller's
    asserts then fail). A request's record reaches the ring after its response has gone out
    (and, with signals, after the analysis), so a client may ask before it is there."""
    deadline, pause = time.monotonic() + timeout, threading.Event()
    while True:
        rows: list[dict[str, Any]] = get(f"{admin}/console/api/requests", token)[1]["data"]
        if len(rows) >= count or time.monotonic() > deadline:
            return rows
        pause.wait(0.05)


def test_api_answers_with_the_requests_and_refuses_bad_queries(
    upstream: Any, gateway: GatewayFactory
) -> None:
    upstream.script({"usage": USAGE})
    with gateway(config(upstream)) as gw:
        admin = gw.admin_url
        assert chat(gw.url()).choices
        (row,) = rows_until(admin, 1)
        assert (row["method"], row["path"], row["status"]) == ("POST", "/v1/chat/completions", 200)
        assert (row["requested"], row["model"], row["provider"]) == (
            "gpt-4o",
            "openai/gpt-4o",
            "openai",
        )
        assert (row["pt"], row["ct"]) == (
            USAGE["prompt_tokens"],
            USAGE["completion_tokens"],
        )  # the mock's usage, noted by the gateway
        assert "trace" not in row  # the list has the columns; the detail has the rest
        status, later = get(f"{admin}/console/api/requests?since={row['f']}")
        assert status == 200 and later["data"] == []
        status, detail = get(f"{admin}/console/api/requests/{row['id']}")
        assert status == 200
        assert [s[0] for s in detail["trace"]][:3] == [
            "request",
            "gateway",
            "upstream",
        ]
        assert detail["routing"]["route"] == "exact"
        assert detail["attempts"]["count"] == 1
        for query, code in (
            ("requests?since=yesterday", 400),
            ("requests?limit=0", 400),
            ("summary?minutes=-1", 400),
            ("requests/ffff-99", 404),
            ("nothing", 404),
        ):
            status, err = get(f"{admin}/console/api/{query}")
            assert status == code, (query, err)
            assert err["error"]["message"]
        request = urllib.request.Request(f"{admin}/console/api/requests", method="POST", data=b"{}")
        with pytest.raises(urllib.error.HTTPError) as info:
            urllib.request.urlopen(request, timeout=10)
        assert info.value.code == 405
        info.value.close()
        status, cfg = get(f"{admin}/console/api/config")
        assert cfg["config"]["model_providers"][0]["access_key"] == "***"
        assert "sk-upstream-secret" not in json.dumps(cfg)
        # Never on a public listener.
        assert get_status(f"{gw.url()}/console/api/requests") == 404
        assert get_status(f"{gw.url()}/") == 404


def test_the_token_guards_the_api_not_the_page(
    upstream: Any, gateway: GatewayFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PLANO_CONSOLE_TOKEN", TOKEN)
    with gateway(config(upstream)) as gw:
        admin = gw.admin_url
        assert get_status(f"{admin}/") == 200  # the page holds no data
        status, err = get(f"{admin}/console/api/requests")
        assert status == 401 and TOKEN not in json.dumps(err)
        assert get(f"{admin}/console/api/requests", "wrong-token-0123456789")[0] == 401
        assert get(f"{admin}/console/api/requests", TOKEN)[0] == 200


def test_bodies_only_when_configured(
    upstream: Any, gateway: GatewayFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    for bodies in ("", "1"):
        monkeypatch.setenv("PLANO_CONSOLE_BODIES", bodies)
        with gateway(config(upstream)) as gw:
            chat(gw.url())
            rows = rows_until(gw.admin_url, 1)
            detail = get(f"{gw.admin_url}/console/api/requests/{rows[0]['id']}")[1]
            if bodies:
                assert '"messages"' in detail["body"]
            else:
                assert "body" not in detail


def test_two_workers_show_in_one_console(tmp_path: Path, upstream: Any, plano_up: Any) -> None:
    port, admin_port = free_port(), free_port()
    cfg = tmp_path / "plano_config.yaml"
    cfg.write_text(config(upstream, port))
    plano_up(cfg, "--workers", "2", "--admin-port", str(admin_port))
    admin, base = f"http://127.0.0.1:{admin_port}", f"http://127.0.0.1:{port}"
    assert get(f"{admin}/console/api/requests")[0] == 200  # the console is open
    for _ in range(16):
        chat(base)  # a new connection each: the kernel spreads them over the workers
    upstream.script({"status": 404})
    with (
        openai.OpenAI(base_url=f"{base}/v1", api_key="k", max_retries=0) as c,
        pytest.raises(openai.NotFoundError),
    ):
        c.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "x"}])
    rows = rows_until(admin, 17)  # new connections: any worker answers
    assert len(rows) == 17
    assert len({r["id"].split("-")[0] for r in rows}) == 2  # both workers' requests
    summary = get(f"{admin}/console/api/summary?minutes=5")[1]
    assert summary["models"]["openai/gpt-4o"]["requests"] == 17
    assert summary["models"]["openai/gpt-4o"]["error_rate"] == round(1 / 17, 4)


def test_plano_console_and_obs_web_open_the_page(
    upstream: Any, gateway: GatewayFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    from click.testing import CliRunner

    from plano.cli.app import cli

    opened: list[str] = []
    monkeypatch.setattr(webbrowser, "open", lambda url: opened.append(url) or True)
    monkeypatch.setenv("PLANO_CONSOLE_TOKEN", TOKEN)
    with gateway(config(upstream)) as gw:
        port = str(gw.admin_port)
        result = CliRunner().invoke(cli, ["console", "--admin-port", port, "--no-open"])
        assert result.exit_code == 0, result.output
        assert f"http://127.0.0.1:{port}/" in result.output and TOKEN not in result.output
        assert opened == []
        monkeypatch.setenv("PLANO_ADMIN_PORT", port)
        result = CliRunner().invoke(cli, ["obs", "--web"])
        assert result.exit_code == 0, result.output
        (url,) = opened
        assert url == f"http://127.0.0.1:{port}/#token={TOKEN}"
        with urllib.request.urlopen(url, timeout=10) as resp:
            assert b"<title>Plano console</title>" in resp.read()
    result = CliRunner().invoke(cli, ["console", "--admin-port", port, "--no-open"])
    assert result.exit_code == 1 and "no gateway answers" in result.output


def test_keys_show_their_budget_use(upstream: Any, gateway: GatewayFactory) -> None:
    upstream.script({"usage": USAGE})
    with gateway(keys_config(upstream)) as gw:
        key_id, key = create_key(gw.admin_url, name="team-a", budget=5.0, period="month")
        with openai.OpenAI(base_url=f"{gw.url()}/v1", api_key=key, max_retries=0) as c:
            c.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "x"}])
        # The key admin token guards the console too (no console token of its own here).
        for path in ("keys", "requests", "config"):
            assert get(f"{gw.admin_url}/console/api/{path}")[0] == 401
        (row,) = rows_until(gw.admin_url, 1, token=ADMIN_TOKEN)
        assert row["key"] == "team-a" and row["cost"] > 0
        status, doc = get(f"{gw.admin_url}/console/api/keys", ADMIN_TOKEN)
        assert status == 200 and doc["enabled"] is True
        (shown,) = doc["data"]
        assert (shown["id"], shown["name"], shown["budget_usd"]) == (key_id, "team-a", 5.0)
        assert shown["spent_usd"] == pytest.approx(row["cost"])
        assert key not in json.dumps(doc) and "secret_hash" not in shown
