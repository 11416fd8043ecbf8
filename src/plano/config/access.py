"""Config for the edge: listener TLS (`listeners[].tls`) and prices (`pricing`,
`model_providers[].pricing`), with the checks that read the files they name.

Relative file paths are relative to the config file's directory. The checks open the files
once at load (`plano validate`, `plano up`, every reload): a missing or unreadable certificate,
key or CA bundle, a key that does not match its certificate, or a price file that is not the
models.dev format is a config error at the YAML path that names it, and nothing starts.
"""

from __future__ import annotations

import ssl
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

import orjson
from pydantic import AfterValidator, Field

from plano.config.context import LoadContext
from plano.config.fieldtypes import FrozenDict, StrictModel, freeze_mapping

TlsVersion = Literal["1.2", "1.3"]
Usd = Annotated[float, Field(ge=0)]


class ListenerTlsConfig(StrictModel):
    """`listeners[].tls`: terminate TLS on this listener."""

    certificate: str  # PEM: the server certificate, then any intermediates (a chain)
    key: str  # PEM private key (unencrypted)
    min_version: TlsVersion = "1.2"
    ciphers: str | None = None  # OpenSSL cipher string for TLS 1.2 (None: Python's defaults)
    client_ca: str | None = None  # PEM CA bundle: verify client certificates against it
    require_client_certificate: bool | None = None  # default: True when client_ca is set


class ModelPriceConfig(StrictModel):
    """USD per million tokens (as models.dev writes them)."""

    input_per_mtok: Usd
    output_per_mtok: Usd
    cache_read_per_mtok: Usd | None = None
    cache_write_per_mtok: Usd | None = None


PriceMap = Annotated[Mapping[str, ModelPriceConfig], AfterValidator(freeze_mapping)]


class PricingConfig(StrictModel):
    """`pricing`: prices for cost accounting besides any `model_metrics_sources` cost feed."""

    file: str | None = None  # a models.dev-format JSON file (`{provider: {models: {id: {cost}}}}`)
    models: PriceMap = Field(default_factory=FrozenDict)  # by model name
    snapshot: bool = True  # bill unpriced well-known models from the bundled snapshot


def config_dir(source: str) -> Path:
    """Where relative paths in the config start: the config file's directory (else the cwd)."""
    if source.startswith("<"):
        return Path.cwd()
    return Path(source).resolve().parent


def resolve(source: str, path: str) -> Path:
    p = Path(path).expanduser()
    return p if p.is_absolute() else config_dir(source) / p


def read_price_file(path: Path) -> Any:
    """The parsed JSON of a price file (raises OSError or ValueError)."""
    doc = orjson.loads(path.read_bytes())
    if not isinstance(doc, dict):
        raise ValueError("it is not a JSON object of providers")
    return doc


def check_tls(ctx: LoadContext, listeners: Any) -> None:
    """Every listener's certificate, key and CA bundle load (and the key fits)."""
    for i, listener in enumerate(listeners):
        tls: ListenerTlsConfig | None = listener.tls
        if tls is None:
            continue
        loc = ("listeners", i, "tls")
        cert, key = resolve(ctx.source, tls.certificate), resolve(ctx.source, tls.key)
        missing = False
        for name, p in (("certificate", cert), ("key", key)):
            if not p.is_file():
                ctx.error((*loc, name), f"{name} file {str(p)!r} does not exist")
                missing = True
        if not missing:
            try:
                ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER).load_cert_chain(cert, key)
            except (ssl.SSLError, OSError) as exc:
                ctx.error(
                    (*loc, "certificate"),
                    f"certificate {str(cert)!r} and key {str(key)!r} do not load as a PEM"
                    f" chain and its private key ({_reason(exc)})",
                )
        if tls.ciphers is not None:
            try:
                ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER).set_ciphers(tls.ciphers)
            except ssl.SSLError:
                ctx.error((*loc, "ciphers"), f"no cipher matches {tls.ciphers!r}")
        if tls.client_ca is not None:
            ca = resolve(ctx.source, tls.client_ca)
            try:
                ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER).load_verify_locations(cafile=ca)
            except (ssl.SSLError, OSError) as exc:
                ctx.error(
                    (*loc, "client_ca"),
                    f"client_ca {str(ca)!r} is not a PEM CA bundle ({_reason(exc)})",
                )
        elif tls.require_client_certificate:
            ctx.error(
                (*loc, "require_client_certificate"),
                "require_client_certificate needs client_ca (the CA of client certificates)",
            )


def _reason(exc: BaseException) -> str:
    if isinstance(exc, ssl.SSLError):
        return exc.reason or type(exc).__name__
    if isinstance(exc, OSError):
        return exc.strerror or type(exc).__name__
    return type(exc).__name__


def check_pricing(ctx: LoadContext, pricing: PricingConfig | None) -> None:
    if pricing is None or pricing.file is None:
        return
    path = resolve(ctx.source, pricing.file)
    try:
        read_price_file(path)
    except OSError as exc:
        ctx.error(("pricing", "file"), f"price file {str(path)!r} cannot be read ({_reason(exc)})")
    except ValueError as exc:
        ctx.error(
            ("pricing", "file"),
            f"price file {str(path)!r} is not models.dev-format JSON ({exc})",
        )
