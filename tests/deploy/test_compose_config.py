"""compose.yaml and its sample config: the config passes `plano validate` with what compose passes
in, uses the compose Redis and PostgreSQL, and the services start in a healthy order."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import pytest
from click.testing import CliRunner

from plano.cli.main import cli
from plano.config import load_config
from plano.listeners.admin import DEFAULT_PORT as ADMIN_PORT
from tests.deploy.files import COMPOSE, COMPOSE_CONFIG, dockerfile_one, exec_form, load_yaml


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    data = load_yaml(COMPOSE)
    assert isinstance(data, dict)
    return data


def plano_environment(compose: dict[str, Any]) -> dict[str, str]:
    """The plano service's environment as compose sets it with nothing exported: each
    `${VAR:-default}` becomes its default."""
    env: dict[str, str] = {}
    for name, raw in compose["services"]["plano"]["environment"].items():
        value = str(raw)
        assert value.startswith("${") and value.endswith("}"), f"{name}: {value}"
        _, _, default = value[2:-1].partition(":-")
        env[name] = default
    return env


def test_sample_config_is_valid_with_what_compose_passes_in(compose: dict[str, Any]) -> None:
    config = load_config(COMPOSE_CONFIG, env=plano_environment(compose))
    assert not config.missing_env  # `plano up` would refuse to start
    assert config.warnings == ()


def test_sample_config_without_the_environment_names_every_variable(
    compose: dict[str, Any],
) -> None:
    """Every $VAR of the config is one that compose passes to the plano service."""
    config = load_config(COMPOSE_CONFIG, env={})
    used = {name for _, name in config.missing_env}
    assert used == {"OPENAI_API_KEY", "ANTHROPIC_API_KEY", "POSTGRES_PASSWORD"}
    assert used <= set(compose["services"]["plano"]["environment"])


def test_plano_validate_accepts_the_sample_config(compose: dict[str, Any]) -> None:
    result = CliRunner().invoke(
        cli, ["validate", str(COMPOSE_CONFIG)], env=plano_environment(compose)
    )
    assert result.exit_code == 0, result.output
    assert "valid" in result.output


def test_redis_and_postgres_are_the_compose_services(compose: dict[str, Any]) -> None:
    env = {name: "secret" for name in ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "POSTGRES_PASSWORD")}
    config = load_config(COMPOSE_CONFIG, env=env)
    services = compose["services"]
    backend = config.ratelimit_backend
    assert backend is not None and backend.type == "redis"
    assert urlsplit(backend.url).hostname == "redis" and "redis" in services
    cache = config.routing.session_cache
    assert cache.type == "redis" and urlsplit(cache.url or "").hostname == "redis"
    state = config.state_storage
    assert state is not None and state.type == "postgres"
    url = urlsplit(state.connection_string or "")
    assert (url.hostname, url.username, url.password, url.path) == (
        "postgres",
        "plano",
        "secret",
        "/plano",
    )
    pg_env = services["postgres"]["environment"]
    assert (pg_env["POSTGRES_USER"], pg_env["POSTGRES_DB"]) == ("plano", "plano")
    assert (
        pg_env["POSTGRES_PASSWORD"]
        == compose["services"]["plano"]["environment"]["POSTGRES_PASSWORD"]
    )


def test_plano_waits_for_healthy_backends_and_mounts_the_config(compose: dict[str, Any]) -> None:
    services = compose["services"]
    plano = services["plano"]
    assert plano["depends_on"] == {
        "redis": {"condition": "service_healthy"},
        "postgres": {"condition": "service_healthy"},
    }
    for name, service in services.items():
        assert service["healthcheck"]["test"], name
    image_config = exec_form(dockerfile_one("ENTRYPOINT"))[-1]
    assert f"./deploy/compose/config.yaml:{image_config}:ro" in plano["volumes"]
    assert plano["build"] == "."
    assert plano["stop_signal"] == dockerfile_one("STOPSIGNAL")


def test_published_ports_are_the_listener_and_admin_ports(compose: dict[str, Any]) -> None:
    config = load_config(COMPOSE_CONFIG, env={})
    published = {p.rsplit(":", 1)[1] for p in compose["services"]["plano"]["ports"]}
    listener_ports = {str(lc.port) for lc in config.listeners}
    assert published == listener_ports | {str(ADMIN_PORT)}
    for mapping in compose["services"]["plano"]["ports"]:
        assert mapping.startswith("127.0.0.1:"), mapping
