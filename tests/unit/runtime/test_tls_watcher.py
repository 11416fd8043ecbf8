from __future__ import annotations

import logging
import ssl
from pathlib import Path

import pytest

from plano.config.access import ListenerTlsConfig
from plano.runtime.tls import CertificateWatcher, server_context
from tests.integration.tls_certs import issue, make_ca


def test_watcher_reloads_changed_files_and_keeps_the_old_pair_on_failure(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    ca = make_ca(tmp_path)
    first = issue(ca, tmp_path, "server")
    tls = ListenerTlsConfig(certificate=str(first.cert_path), key=str(first.key_path))
    ctx = server_context(tls, "<test>")
    assert ctx.minimum_version is ssl.TLSVersion.TLSv1_2
    watcher = CertificateWatcher()
    watcher.watch("llm", ctx, tls, "<test>")
    assert watcher.check() == 0  # nothing changed
    (tmp_path / "b").mkdir()
    second = issue(ca, tmp_path / "b", "server")
    # Only the certificate is new: it does not match the key yet -> kept, warned, retried.
    first.cert_path.write_bytes(second.cert_path.read_bytes())
    with caplog.at_level(logging.WARNING, logger="plano.tls"):
        assert watcher.check() == 0
    assert "do not load" in caplog.text
    first.key_path.write_bytes(second.key_path.read_bytes())
    assert watcher.check() == 1
    assert watcher.reloads == 1
    assert watcher.check() == 0


def test_context_options(tmp_path: Path) -> None:
    ca = make_ca(tmp_path)
    leaf = issue(ca, tmp_path, "server")
    base = {"certificate": str(leaf.cert_path), "key": str(leaf.key_path)}
    strict = server_context(
        ListenerTlsConfig(**base, min_version="1.3", client_ca=str(ca.cert_path)), "<test>"
    )
    assert strict.minimum_version is ssl.TLSVersion.TLSv1_3
    assert strict.verify_mode is ssl.CERT_REQUIRED
    optional = server_context(
        ListenerTlsConfig(**base, client_ca=str(ca.cert_path), require_client_certificate=False),
        "<test>",
    )
    assert optional.verify_mode is ssl.CERT_OPTIONAL
    assert server_context(ListenerTlsConfig(**base), "<test>").verify_mode is ssl.CERT_NONE
