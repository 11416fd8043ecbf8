"""`plano keys create|list|show|revoke|rotate`: gateway keys, straight in the configured store.

The store comes from the config's `access.keys` (`--config FILE`, else `config.yaml` /
`plano_config.yaml` here): PostgreSQL or the key file. A `memory` store lives inside a running
gateway: use the admin API (`/admin/keys` on the admin listener) for it. A new or rotated key is
printed once; it cannot be shown again.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from plano.cli.up import find_config

if TYPE_CHECKING:  # the stores and the config load when a command runs, not for --help
    from plano.state.keys import KeyStore

PERIODS = ("day", "month", "total")  # plano.access.keys_admin.PERIODS (a test checks)

T = TypeVar("T")

_config_option = click.option(
    "--config",
    "config_file",
    type=click.Path(dir_okay=False),
    default=None,
    help="The gateway's config file (default: ./config.yaml or ./plano_config.yaml).",
)
_json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON.")


def _store(config_file: str | None) -> KeyStore:
    from plano.access.keys_build import build_key_store
    from plano.config import ConfigError, format_report, load_config

    path = find_config(config_file, ".")
    if path is None:
        raise click.ClickException("no config: pass --config FILE")
    try:
        config = load_config(Path(path))
    except ConfigError as err:
        click.echo(format_report(err.problems, ()), err=True)
        sys.exit(1)
    except OSError as exc:
        raise click.ClickException(f"{path}: cannot read: {exc.strerror}") from None
    cfg = config.access.keys
    if cfg.store == "memory":
        raise click.ClickException(
            f"{path}: access.keys.store is memory (inside the running gateway): use the admin"
            " API, POST/GET http://127.0.0.1:9901/admin/keys"
        )
    if cfg.store == "postgres" and not cfg.dsn:
        raise click.ClickException(f"{path}: access.keys.dsn is empty (is its variable set?)")
    return build_key_store(cfg, config.source)


def _run(config_file: str | None, work: Callable[[KeyStore], Awaitable[T]]) -> T:
    from plano.errors import PlanoError
    from plano.state.keys import KeyStoreError

    store = _store(config_file)

    async def run() -> T:
        try:
            return await work(store)
        finally:
            await store.close()

    try:
        return asyncio.run(run())
    except PlanoError as err:
        raise click.ClickException(err.message) from None
    except KeyStoreError as exc:
        raise click.ClickException(str(exc)) from None


def _when(ts: float | None) -> str:
    return "-" if ts is None else time.strftime("%Y-%m-%d %H:%M", time.gmtime(ts)) + "Z"


def _print(doc: dict[str, Any], as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps(doc, indent=2, sort_keys=True))
        return
    for name, value in doc.items():
        click.echo(f"{name:>11}: {_shown(name, value)}")


def _shown(name: str, value: Any) -> str:
    if name in ("created_at", "expires_at", "revoked_at"):
        return _when(value)
    if isinstance(value, list | tuple):
        return ", ".join(value) or "(all)"
    if isinstance(value, dict):
        return ", ".join(f"{k}={v}" for k, v in value.items()) or "-"
    return "-" if value is None else str(value)


@click.group()
def keys() -> None:
    """Gateway keys: create, list, show, revoke, rotate."""


@keys.command()
@click.option("--name", required=True, help="A name for the key (shown in metrics and logs).")
@click.option("--team", default=None)
@click.option("--app", default=None)
@click.option("--models", default=None, help="Allowed models, aliases, routes; globs: openai/*.")
@click.option("--rpm", type=int, default=None, help="Requests per minute.")
@click.option("--tpm", type=int, default=None, help="Prompt tokens per minute.")
@click.option("--budget", type=float, default=None, help="USD per period.")
@click.option("--period", type=click.Choice(PERIODS), default="month")
@click.option("--alert-at", type=float, default=None, help="Alert at this fraction (0.8).")
@click.option("--expires", default=None, help="30d, 12h, or a date (2027-01-31).")
@click.option("--meta", multiple=True, help="k=v (repeatable).")
@_config_option
@_json_option
def create(config_file: str | None, as_json: bool, meta: tuple[str, ...], **spec: Any) -> None:
    """Create a key; it is printed once."""
    from plano.access import keys_admin

    pairs = dict(m.partition("=")[::2] for m in meta)
    doc = {k: v for k, v in spec.items() if v is not None}
    doc["meta"] = pairs
    record, key = _run(config_file, lambda store: keys_admin.create(store, doc))
    _print({**record.public(), "key": key}, as_json)
    if not as_json:
        click.echo("\nStore the key now: it is not shown again.", err=True)


@keys.command(name="list")
@_config_option
@_json_option
def list_keys(config_file: str | None, as_json: bool) -> None:
    """Every key (never the keys themselves)."""
    records = _run(config_file, lambda store: store.list())
    if as_json:
        click.echo(json.dumps([r.public() for r in records], indent=2, sort_keys=True))
        return
    click.echo(f"{'ID':<12}  {'NAME':<20} {'TEAM':<12} {'STATE':<8} {'BUDGET':>10}  MODELS")
    for r in records:
        state = "revoked" if r.revoked_at else "expired" if _expired(r.expires_at) else "active"
        budget = f"${r.budget_usd:g}/{r.period}" if r.budget_usd is not None else "-"
        models = ",".join(r.models) or "(all)"
        click.echo(
            f"{r.id:<12}  {r.name:<20} {r.team or '-':<12} {state:<8} {budget:>10}  {models}"
        )


def _expired(at: float | None) -> bool:
    return at is not None and at <= time.time()


@keys.command()
@click.argument("key_id")
@_config_option
@_json_option
def show(key_id: str, config_file: str | None, as_json: bool) -> None:
    """One key, with this period's spend."""
    from plano.access import keys_admin

    async def work(store: KeyStore) -> dict[str, Any]:
        return await keys_admin.shown(store, await keys_admin.find(store, key_id))

    _print(_run(config_file, work), as_json)


@keys.command()
@click.argument("key_id")
@_config_option
def revoke(key_id: str, config_file: str | None) -> None:
    """Revoke a key (every gateway refuses it within its cache_ttl)."""
    from plano.access import keys_admin

    record = _run(config_file, lambda store: keys_admin.revoke(store, key_id))
    click.echo(f"revoked {record.id} ({record.name})")


@keys.command()
@click.argument("key_id")
@_config_option
@_json_option
def rotate(key_id: str, config_file: str | None, as_json: bool) -> None:
    """A new secret for a key (the old one stops working); printed once."""
    from plano.access import keys_admin

    record, key = _run(config_file, lambda store: keys_admin.rotate(store, key_id))
    if as_json:
        click.echo(json.dumps({"id": record.id, "name": record.name, "key": key}))
    else:
        click.echo(key)
