"""TLS termination on a listener: official SDKs over HTTPS against a certificate made here, a
client with the wrong CA, mTLS, certificate reload on file change, and config errors."""

from __future__ import annotations

import logging
import socket
import ssl
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anthropic
import httpx2 as httpx
import openai
import pytest

from plano.config import ConfigError, load_config_text
from tests.integration.gateway_procs import Started, free_port, make_env, plano, started
from tests.integration.tls_certs import Issued, issue, make_ca

WAIT = 60.0


def config(upstream: Any, tls: str) -> str:
    return f"""
version: v0.4.0
listeners:
  - name: llm
    type: model
    address: 127.0.0.1
    port: 0
    tls: {tls}
model_providers:
  - model: openai/gpt-4o
    access_key: upstream-key
    base_url: {upstream.base_url}
    default: true
"""


@pytest.fixture
def pki(tmp_path: Path) -> dict[str, Issued]:
    ca = make_ca(tmp_path, "ca")
    return {
        "ca": ca,
        "server": issue(ca, tmp_path, "server"),
        "client": issue(ca, tmp_path, "client", server=False),
        "other_ca": make_ca(tmp_path, "other-ca"),
    }


def tls_of(pki: dict[str, Issued], **extra: str) -> str:
    s = pki["server"]
    return flow({"certificate": str(s.cert_path), "key": str(s.key_path), **extra})


def trust(ca: Issued, client: Issued | None = None) -> ssl.SSLContext:
    """A client context that trusts `ca` (and presents `client`'s certificate)."""
    ctx = ssl.create_default_context(cafile=str(ca.cert_path))
    if client is not None:
        ctx.load_cert_chain(client.cert_path, client.key_path)
    return ctx


def flow(fields: dict[str, str]) -> str:
    return "{" + ", ".join(f"{k}: {v!r}" for k, v in fields.items()) + "}"


def https(gw: Any) -> str:
    return f"https://127.0.0.1:{gw.port()}"


def served_fingerprint(port: int, ca: Path) -> bytes:
    ctx = ssl.create_default_context(cafile=str(ca))
    ctx.set_alpn_protocols(["h2", "http/1.1"])
    with (
        socket.create_connection(("127.0.0.1", port), timeout=10) as raw,
        ctx.wrap_socket(raw, server_hostname="127.0.0.1") as tls,
    ):
        der = tls.getpeercert(binary_form=True)
        assert tls.selected_alpn_protocol() == "http/1.1"
    assert der is not None
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes

    return x509.load_der_x509_certificate(der).fingerprint(hashes.SHA256())


def test_official_sdks_over_https(upstream: Any, gateway: Any, pki: dict[str, Issued]) -> None:
    with gateway(config(upstream, tls_of(pki))) as gw:
        with httpx.Client(verify=trust(pki["ca"])) as http:
            client = openai.OpenAI(
                base_url=f"{https(gw)}/v1", api_key="k", http_client=http, max_retries=0
            )
            chat = client.chat.completions.create(
                model="gpt-4o", messages=[{"role": "user", "content": "hello over tls"}]
            )
            assert chat.choices[0].message.content
            chunks = list(
                client.chat.completions.create(
                    model="gpt-4o",
                    messages=[{"role": "user", "content": "stream over tls"}],
                    stream=True,
                )
            )
            assert any(c.choices and c.choices[0].delta.content for c in chunks)
            ant = anthropic.Anthropic(
                base_url=https(gw), api_key="k", http_client=http, max_retries=0
            )
            msg = ant.messages.create(
                model="gpt-4o", max_tokens=32, messages=[{"role": "user", "content": "hi"}]
            )
            assert msg.content and msg.content[0].type == "text"
        assert served_fingerprint(gw.port(), pki["ca"].cert_path) == pki["server"].fingerprint


def test_wrong_ca_fails_cleanly_and_the_gateway_keeps_serving(
    upstream: Any, gateway: Any, pki: dict[str, Issued], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    with gateway(config(upstream, tls_of(pki))) as gw:
        with httpx.Client(verify=trust(pki["other_ca"])) as wrong:
            client = openai.OpenAI(
                base_url=f"{https(gw)}/v1", api_key="k", http_client=wrong, max_retries=0
            )
            with pytest.raises(openai.APIConnectionError) as info:
                client.chat.completions.create(
                    model="gpt-4o", messages=[{"role": "user", "content": "x"}]
                )
            assert isinstance(info.value.__cause__, httpx.ConnectError)
            assert "CERTIFICATE_VERIFY_FAILED" in str(info.value.__cause__)
        with httpx.Client(verify=trust(pki["ca"])) as right:
            client = openai.OpenAI(
                base_url=f"{https(gw)}/v1", api_key="k", http_client=right, max_retries=0
            )
            ok = client.chat.completions.create(
                model="gpt-4o", messages=[{"role": "user", "content": "still there?"}]
            )
            assert ok.choices[0].message.content
        # Plain HTTP to the TLS port is refused, not served.
        with pytest.raises(httpx.HTTPError):
            httpx.get(f"http://127.0.0.1:{gw.port()}/healthz", timeout=10)
        assert httpx.get(f"{https(gw)}/healthz", verify=trust(pki["ca"])).status_code == 200
    noisy = [r for r in caplog.records if r.exc_info and r.levelno >= logging.WARNING]
    assert noisy == []


def test_mtls_requires_a_client_certificate(
    upstream: Any, gateway: Any, pki: dict[str, Issued]
) -> None:
    ca = pki["ca"]
    with gateway(config(upstream, tls_of(pki, client_ca=str(ca.cert_path)))) as gw:
        body = {"model": "gpt-4o", "messages": [{"role": "user", "content": "mtls"}]}
        url = f"{https(gw)}/v1/chat/completions"
        with httpx.Client(verify=trust(ca)) as anonymous, pytest.raises(httpx.HTTPError):
            anonymous.post(url, json=body, timeout=10)
        with httpx.Client(verify=trust(ca, pki["client"])) as mine:
            client = openai.OpenAI(
                base_url=f"{https(gw)}/v1", api_key="k", http_client=mine, max_retries=0
            )
            chat = client.chat.completions.create(
                model="gpt-4o", messages=[{"role": "user", "content": "mtls"}]
            )
            assert chat.choices[0].message.content
        # A client certificate from another CA is refused too.
        stranger = issue(pki["other_ca"], ca.cert_path.parent, "stranger", server=False)
        with httpx.Client(verify=trust(ca, stranger)) as bad, pytest.raises(httpx.HTTPError):
            bad.post(url, json=body, timeout=10)


def test_a_changed_certificate_is_served_without_restart(
    upstream: Any, gateway: Any, pki: dict[str, Issued], tmp_path: Path
) -> None:
    ca = pki["ca"]
    with gateway(config(upstream, tls_of(pki))) as gw:
        before = served_fingerprint(gw.port(), ca.cert_path)
        assert before == pki["server"].fingerprint
        (tmp_path / "new").mkdir()
        fresh = issue(ca, tmp_path / "new", "server")
        server = pki["server"]
        # Replace the files the config names (key first, then the certificate, as a deploy would).
        server.key_path.write_bytes(fresh.key_path.read_bytes())
        server.cert_path.write_bytes(fresh.cert_path.read_bytes())
        deadline = time.monotonic() + WAIT
        seen = before
        while seen == before and time.monotonic() < deadline:
            time.sleep(0.2)  # the gateway polls the files' modification times
            seen = served_fingerprint(gw.port(), ca.cert_path)
        assert seen == fresh.fingerprint != before
        with httpx.Client(verify=trust(ca)) as http:
            assert http.get(f"{https(gw)}/healthz").status_code == 200


@pytest.mark.parametrize("what", ["missing", "mismatched", "not_pem"])
def test_bad_certificate_files_are_config_errors(
    upstream: Any, pki: dict[str, Issued], tmp_path: Path, what: str
) -> None:
    s = pki["server"]
    cert, key = str(s.cert_path), str(s.key_path)
    if what == "missing":
        cert = str(tmp_path / "nope.pem")
    elif what == "mismatched":
        key = str(pki["client"].key_path)
    else:
        junk = tmp_path / "junk.pem"
        junk.write_text("not a certificate")
        cert = str(junk)
    with pytest.raises(ConfigError) as info:
        load_config_text(
            config(upstream, f"{{certificate: {cert!r}, key: {key!r}}}"), source="t.yaml"
        )
    paths = [p.path for p in info.value.problems]
    assert any(p.startswith("listeners[0].tls") for p in paths), paths


def test_tls_config_is_strict(upstream: Any, pki: dict[str, Issued]) -> None:
    with pytest.raises(ConfigError) as info:
        load_config_text(config(upstream, tls_of(pki, min_version="1.1")), source="t.yaml")
    assert any("min_version" in p.path for p in info.value.problems)
    with pytest.raises(ConfigError) as info:
        load_config_text(config(upstream, tls_of(pki, cert="x")), source="t.yaml")
    assert any("tls" in p.path for p in info.value.problems)
    with pytest.raises(ConfigError) as info:
        load_config_text(
            config(upstream, tls_of(pki, require_client_certificate="true")), source="t.yaml"
        )
    assert any("require_client_certificate" in p.path for p in info.value.problems)


@pytest.fixture
def gateways() -> Iterator[Started]:
    yield from started()


def test_plano_reload_serves_the_new_certificate(
    tmp_path: Path, upstream: Any, pki: dict[str, Issued], gateways: Started
) -> None:
    """As real processes: `plano reload` with the config naming new files switches the served
    certificate; a reload naming a missing file is refused at its YAML path, the old one serves."""
    env = make_env(tmp_path / "home")
    port = free_port()
    cfg = tmp_path / "plano.yaml"
    cfg.write_text(config(upstream, tls_of(pki)).replace("port: 0", f"port: {port}"))
    ca = pki["ca"]
    gateways([str(cfg), "--workers", "1"], env)
    assert served_fingerprint(port, ca.cert_path) == pki["server"].fingerprint
    (tmp_path / "next").mkdir()
    fresh = issue(ca, tmp_path / "next", "server")
    tls = {"certificate": str(fresh.cert_path), "key": str(fresh.key_path)}
    cfg.write_text(config(upstream, flow(tls)).replace("port: 0", f"port: {port}"))
    done = plano("reload", env=env)
    assert done.returncode == 0, done.stderr
    assert served_fingerprint(port, ca.cert_path) == fresh.fingerprint
    tls["certificate"] = str(tmp_path / "gone.pem")
    cfg.write_text(config(upstream, flow(tls)).replace("port: 0", f"port: {port}"))
    refused = plano("reload", env=env)
    assert refused.returncode == 1
    assert "listeners[0].tls.certificate" in refused.stderr
    assert served_fingerprint(port, ca.cert_path) == fresh.fingerprint
