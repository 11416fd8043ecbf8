"""The Dockerfile agrees with the code: ports, admin listener, entrypoint, healthcheck, locked deps.

There is no Docker daemon here, so the image is never built in tests; instead every fact the image
relies on is checked against the code that must honour it, so a change on either side fails here.
"""

from __future__ import annotations

import re
import tomllib
from importlib.metadata import PackageNotFoundError, distribution

import pytest
from packaging.requirements import Requirement

from plano.cli.main import cli
from plano.cli.up import up
from plano.config import load_config
from plano.config.models import DEFAULT_PORTS
from plano.listeners import admin
from tests.deploy.files import (
    HEALTHCHECK,
    IMAGE_CONFIG,
    LOCK,
    ROOT,
    dockerfile_env,
    dockerfile_instructions,
    dockerfile_one,
    exec_form,
)

CONFIG_IN_IMAGE = "/etc/plano/config.yaml"
HEALTHCHECK_IN_IMAGE = "/usr/local/lib/plano/healthcheck.py"


def test_two_stages_on_one_pinned_python_311_slim_base() -> None:
    froms = [args for word, args in dockerfile_instructions() if word == "FROM"]
    assert froms == ["${PYTHON_IMAGE} AS build", "${PYTHON_IMAGE} AS runtime"]
    arg = next(args for word, args in dockerfile_instructions() if word == "ARG")
    # A patch-level tag, never a floating one such as python:3.11-slim.
    assert re.fullmatch(r"PYTHON_IMAGE=python:3\.11\.\d+-slim-\w+", arg), arg


def test_runtime_stage_copies_only_the_venv_config_and_healthcheck() -> None:
    copies = [args for word, args in dockerfile_instructions("runtime") if word == "COPY"]
    assert copies == [
        "--from=build /opt/plano /opt/plano",
        f"deploy/docker/config.yaml {CONFIG_IN_IMAGE}",
        f"deploy/docker/healthcheck.py {HEALTHCHECK_IN_IMAGE}",
    ]


def test_runs_as_a_numeric_non_root_user() -> None:
    user = dockerfile_one("USER")
    uid, _, gid = user.partition(":")
    assert uid.isdigit() and int(uid) != 0 and gid.isdigit() and int(gid) != 0, user


def test_exposes_the_default_listener_and_admin_ports() -> None:
    exposed = {int(p) for p in dockerfile_one("EXPOSE").split()}
    assert exposed == {DEFAULT_PORTS["model"], DEFAULT_PORTS["prompt"], admin.DEFAULT_PORT}


def test_admin_listener_binds_all_interfaces_on_its_default_port() -> None:
    env = dockerfile_env()
    settings = admin.admin_settings(None, None, env)
    assert settings == admin.AdminSettings("0.0.0.0", admin.DEFAULT_PORT)
    assert env[admin.ENV_PORT] == str(admin.DEFAULT_PORT)


def test_writable_paths_are_under_tmp() -> None:
    env = dockerfile_env()
    assert env["PLANO_HOME"].startswith("/tmp/")
    assert "PROMETHEUS_MULTIPROC_DIR" not in env  # the supervisor makes one under $TMPDIR (/tmp)
    assert env["PATH"].startswith("/opt/plano/bin:")


def test_entrypoint_is_plano_up_in_the_foreground_with_the_baked_config() -> None:
    entry = exec_form(dockerfile_one("ENTRYPOINT"))
    assert entry == ["plano", "up", "--foreground", CONFIG_IN_IMAGE]
    assert exec_form(dockerfile_one("CMD")) == []  # `docker run IMAGE --workers 4` appends
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert scripts["plano"] == "plano.cli.main:main"
    assert cli.commands["up"] is up
    options = {opt for p in up.params for opt in p.opts}
    assert {"--foreground", "--workers", "--admin-port", "--admin-address"} <= options
    assert dockerfile_one("STOPSIGNAL") == "SIGTERM"


def test_healthcheck_runs_the_script_that_asks_the_admin_healthz() -> None:
    args = dockerfile_one("HEALTHCHECK")
    options, _, cmd = args.partition(" CMD ")
    assert exec_form(cmd) == ["python", HEALTHCHECK_IN_IMAGE]
    assert "--start-period=" in options
    source = HEALTHCHECK.read_text()
    assert f'DEFAULT_PORT = "{admin.DEFAULT_PORT}"' in source
    assert f'"{admin.ENV_PORT}"' in source
    assert 'PATH = "/healthz"' in source


def test_baked_config_needs_no_secret() -> None:
    config = load_config(IMAGE_CONFIG, env={})
    assert not config.missing_env
    assert config.warnings == ()
    (listener,) = config.listeners
    assert (listener.type, listener.address, listener.port) == ("model", "0.0.0.0", 12000)


def _lock() -> dict[str, tuple[str, list[str]]]:
    """name -> (version, hashes) from requirements.lock."""
    text = LOCK.read_text().replace("\\\n", " ")
    pins: dict[str, tuple[str, list[str]]] = {}
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        spec, *hashes = line.split()
        name, _, version = spec.partition("==")
        pins[_norm(name)] = (version, [h.removeprefix("--hash=") for h in hashes])
    return pins


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


# The extras the image installs besides the core (the gateway's optional parts, not `demo`).
IMAGE_EXTRAS = ("router", "redis", "postgres", "mcp")
CI_LOCK = ROOT / "requirements" / "ci.lock"


def _image_requirements() -> list[Requirement]:
    """The core dependencies and those of the image's extras (self-references left out)."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    deps = list(project["dependencies"])
    for extra in IMAGE_EXTRAS:
        deps += project["optional-dependencies"][extra]
    return [Requirement(d) for d in deps if Requirement(d).name != "plano"]


def _ci_pins() -> dict[str, str]:
    pins = {}
    for raw in CI_LOCK.read_text().splitlines():
        name, sep, version = raw.strip().partition("==")
        if sep and not raw.startswith("#"):
            pins[_norm(name)] = version
    return pins


def test_lock_satisfies_pyproject_at_the_versions_ci_tests() -> None:
    lock = _lock()
    ci = _ci_pins()
    for req in _image_requirements():
        name = _norm(req.name)
        assert name in lock, f"{req.name} missing: run deploy/docker/update-lock"
        version = lock[name][0]
        assert req.specifier.contains(version), (
            f"{req.name}: pyproject wants {req.specifier}, lock has {version}: "
            "run deploy/docker/update-lock"
        )
        assert ci.get(name) == version, (
            f"{req.name}: the image lock has {version}, requirements/ci.lock {ci.get(name)}"
        )
    for name, (version, hashes) in lock.items():
        assert version and hashes, name
        assert all(re.fullmatch(r"sha256:[0-9a-f]{64}", h) for h in hashes), name


def test_lock_holds_the_whole_runtime_closure() -> None:
    """Walk the installed runtime requirements from plano's direct dependencies and the image's
    extras: every package they pull in on Linux must be in the lock (it is installed with
    --no-deps)."""
    lock = _lock()
    env = {"sys_platform": "linux", "platform_system": "Linux", "extra": ""}
    seen: set[str] = set()
    todo = _image_requirements()
    while todo:
        req = todo.pop()
        name = _norm(req.name)
        if name in seen:
            continue
        seen.add(name)
        assert name in lock, f"{name} (needed at runtime) is not in {LOCK.name}"
        try:
            dist = distribution(req.name)
        except PackageNotFoundError:
            pytest.fail(f"{req.name} is not installed in the test environment")
        for sub in dist.requires or []:
            sub_req = Requirement(sub)
            extras = req.extras or {""}
            if sub_req.marker is None or any(
                sub_req.marker.evaluate({**env, "extra": extra}) for extra in extras
            ):
                todo.append(sub_req)
