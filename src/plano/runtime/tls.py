"""TLS termination on listeners: one `ssl.SSLContext` per listener with `tls:`, built when a
worker starts (each generation, so `plano reload` / SIGHUP re-reads the files), and a cheap
modification-time poll that reloads a changed certificate, key or client CA into the live context
(`load_cert_chain` on a context applies to the handshakes that follow; open connections keep
theirs).

Defaults: TLS 1.2 minimum (`min_version: "1.3"` for 1.3 only), Python's default cipher list
(`ciphers:` to narrow it; TLS 1.3 suites are OpenSSL's), ALPN `http/1.1`, no session tickets
renegotiation tricks. With `client_ca`, clients must present a certificate it signed
(`require_client_certificate: false` makes it optional). A reload that fails (a half-written file,
a key that does not match yet) is logged and the context keeps its previous certificate; the next
poll tries again.
"""

from __future__ import annotations

import asyncio
import logging
import os
import ssl
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from plano.config.access import ListenerTlsConfig, resolve

log = logging.getLogger("plano.tls")

POLL_SECONDS: Final = 5.0  # how often the files' modification times are checked
_VERSIONS: Final = {"1.2": ssl.TLSVersion.TLSv1_2, "1.3": ssl.TLSVersion.TLSv1_3}


def server_context(tls: ListenerTlsConfig, source: str) -> ssl.SSLContext:
    """The listener's server context (raises `ssl.SSLError` / `OSError` on bad files; the config
    checks make that rare)."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = _VERSIONS[tls.min_version]
    if tls.ciphers is not None:
        ctx.set_ciphers(tls.ciphers)
    ctx.set_alpn_protocols(["http/1.1"])
    ctx.load_cert_chain(resolve(source, tls.certificate), resolve(source, tls.key))
    if tls.client_ca is not None:
        ctx.load_verify_locations(cafile=resolve(source, tls.client_ca))
        required = tls.require_client_certificate is not False
        ctx.verify_mode = ssl.CERT_REQUIRED if required else ssl.CERT_OPTIONAL
    return ctx


@dataclass
class _Watched:
    name: str  # the listener's
    ctx: ssl.SSLContext
    cert: Path
    key: Path
    ca: Path | None
    stamps: tuple[int, ...] = field(default=())

    def files(self) -> tuple[Path, ...]:
        return (self.cert, self.key) + ((self.ca,) if self.ca is not None else ())


def _stamps(paths: Sequence[Path]) -> tuple[int, ...]:
    out = []
    for p in paths:
        try:
            st = os.stat(p)
            out.append(st.st_mtime_ns ^ st.st_size ^ st.st_ino)
        except OSError:
            out.append(-1)
    return tuple(out)


class CertificateWatcher:
    """Reloads changed certificate files into the live contexts, on the event loop."""

    def __init__(self, every: float = POLL_SECONDS) -> None:
        self._every = every
        self._watched: list[_Watched] = []
        self._handle: asyncio.TimerHandle | None = None
        self.reloads = 0  # successful reloads (for tests and introspection)

    def watch(self, name: str, ctx: ssl.SSLContext, tls: ListenerTlsConfig, source: str) -> None:
        ca = resolve(source, tls.client_ca) if tls.client_ca is not None else None
        w = _Watched(name, ctx, resolve(source, tls.certificate), resolve(source, tls.key), ca)
        w.stamps = _stamps(w.files())
        self._watched.append(w)

    def start(self) -> None:
        """Start polling (call on the serving loop); nothing to do without TLS listeners."""
        if self._watched and self._handle is None:
            self._handle = asyncio.get_running_loop().call_later(self._every, self._tick)

    def stop(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None

    def _tick(self) -> None:
        self.check()
        self._handle = asyncio.get_running_loop().call_later(self._every, self._tick)

    def check(self) -> int:
        """Reload what changed since the last look; the number of contexts reloaded."""
        done = 0
        for w in self._watched:
            stamps = _stamps(w.files())
            if stamps == w.stamps:
                continue
            try:
                w.ctx.load_cert_chain(w.cert, w.key)
                if w.ca is not None:
                    w.ctx.load_verify_locations(cafile=w.ca)
            except (ssl.SSLError, OSError) as exc:
                log.warning(
                    "listener %s: certificate files changed but do not load (%s);"
                    " the previous certificate stays in use",
                    w.name,
                    getattr(exc, "reason", None) or type(exc).__name__,
                )
                continue
            w.stamps = stamps
            done += 1
            self.reloads += 1
            log.info("listener %s: certificate reloaded from %s", w.name, w.cert)
        return done


def listener_contexts(
    listeners: Mapping[int, tuple[str, ListenerTlsConfig | None]], source: str
) -> tuple[dict[int, ssl.SSLContext], CertificateWatcher]:
    """Server contexts by port for the listeners with `tls:`, and the watcher of their files."""
    watcher = CertificateWatcher()
    out: dict[int, ssl.SSLContext] = {}
    for port, (name, tls) in listeners.items():
        if tls is None:
            continue
        ctx = out[port] = server_context(tls, source)
        watcher.watch(name, ctx, tls, source)
    return out, watcher
