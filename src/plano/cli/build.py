"""`plano build [--docker]`: the original compiles its Rust binaries here; Plano is Python.

Natively there is nothing to compile: `pip install` (or `pip install -e .` in a checkout) is the
build. With `--docker` it builds the container image from the repository's Dockerfile, tagged
`PLANO_DOCKER_IMAGE` (default `plano:local`), which `plano up --docker` runs.
"""

from __future__ import annotations

from pathlib import Path

import click

from plano.cli import docker_mode


@click.command()
@click.option("--docker", "in_docker", is_flag=True, help="Build the container image.")
@click.option(
    "--path",
    "context",
    default=".",
    type=click.Path(file_okay=False, path_type=Path),
    help="The repository checkout holding the Dockerfile.",
)
def build(in_docker: bool, context: Path) -> None:
    """Build the container image (--docker); natively, say why there is nothing to build."""
    if in_docker:
        docker_mode.build(context)
        return
    click.echo(
        "nothing to build: Plano is a Python package — `pip install plano` (or `pip install -e .` "
        "in a checkout) installs it; `plano build --docker` builds the container image"
    )
