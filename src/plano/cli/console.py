"""`plano console` (and `plano obs --web`): open the running gateway's web console.

The console is served by the gateway itself on its admin listener (`http://127.0.0.1:9901/` by
default; `--admin-port` / `$PLANO_ADMIN_PORT`, `--admin-address` / `$PLANO_ADMIN_ADDRESS` as for
`plano up`). This command checks that the gateway answers there, prints the address and opens it
in a browser (`--no-open`: print only). With `$PLANO_CONSOLE_TOKEN` set, the browser is given the
token in the address' fragment (`#token=...`, never sent to a server), not printed.
"""

from __future__ import annotations

import os
import urllib.error
import urllib.parse
import urllib.request
import webbrowser

import click


def console_url(port: str | None, address: str | None) -> str:
    """The console's address from the same settings `plano up` reads for its admin listener."""
    from plano.listeners.admin import admin_settings  # not for `plano --help`

    try:
        settings = admin_settings(port, address, os.environ)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    if settings is None:
        raise click.ClickException("the admin listener is off: the console is served there")
    host = settings.address
    if host in ("0.0.0.0", "::", ""):
        host = "127.0.0.1"
    elif ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{settings.port}/"


def open_console(port: str | None, address: str | None, *, open_browser: bool) -> None:
    url = console_url(port, address)
    try:
        with urllib.request.urlopen(f"{url}healthz", timeout=3):
            pass
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise click.ClickException(
            f"no gateway answers at {url} ({reason}): start one with `plano up`, or give its "
            "--admin-port"
        ) from None
    click.echo(f"plano console: {url}")
    if open_browser:
        from plano.listeners.console import console_token

        token = console_token(os.environ)
        target = f"{url}#token={urllib.parse.quote(token)}" if token else url
        if not webbrowser.open(target):
            click.echo("(no browser to open here: visit the address above)", err=True)


@click.command()
@click.option("--admin-port", help="The gateway's admin port (default $PLANO_ADMIN_PORT, 9901).")
@click.option("--admin-address", help="Its address (default $PLANO_ADMIN_ADDRESS, 127.0.0.1).")
@click.option("--no-open", is_flag=True, help="Print the address; do not open a browser.")
def console(admin_port: str | None, admin_address: str | None, no_open: bool) -> None:
    """Open the gateway's web console: live requests, traces, routing, signals, spend."""
    open_console(admin_port, admin_address, open_browser=not no_open)
