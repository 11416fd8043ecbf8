"""The Helm chart's values against the code: the default `config` loads with no secret, the full
example loads with the variables the chart provides, and the admin/probe/port facts match plano.

Rendering the templates needs Helm, which deploy/check runs (with `plano validate` on the rendered
ConfigMaps); here the values are read straight from values.yaml and ci/full-values.yaml.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest
import yaml

from plano.config import load_config_text
from plano.config.models import DEFAULT_PORTS
from plano.listeners import admin
from tests.deploy.files import CHART, ROOT, dockerfile_env, dockerfile_one, load_yaml

VALUES = CHART / "values.yaml"
FULL_VALUES = CHART / "ci" / "full-values.yaml"


def merged(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    """Helm's merge of a values file over the defaults: maps merge, anything else replaces."""
    out = copy.deepcopy(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merged(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


@pytest.fixture(scope="module")
def values() -> dict[str, Any]:
    data = load_yaml(VALUES)
    assert isinstance(data, dict)
    return data


@pytest.fixture(scope="module")
def full_values(values: dict[str, Any]) -> dict[str, Any]:
    return merged(values, load_yaml(FULL_VALUES))


def chart_config(values: dict[str, Any]) -> dict[str, Any]:
    """What templates/_helpers.tpl `plano.config` renders: `config` plus the Redis and PostgreSQL
    sections from their values, where `config` does not set them."""
    cfg = copy.deepcopy(values["config"])
    if url := values["redis"]["url"]:
        if values["redis"]["ratelimitBackend"]:
            cfg.setdefault("ratelimit_backend", {"type": "redis", "url": url})
        if values["redis"]["sessionCache"]:
            cfg.setdefault("routing", {}).setdefault("session_cache", {"type": "redis", "url": url})
    if conn := values["postgresql"]["connectionString"]:
        cfg.setdefault("state_storage", {"type": "postgres", "connection_string": conn})
    return cfg


def pod_env(values: dict[str, Any]) -> dict[str, str]:
    """The variables the Deployment gives the container (secret values as dummies)."""
    env = {"PLANO_HOME": "/tmp/plano", "PLANO_ADMIN_ADDRESS": "0.0.0.0"}
    env.update({k: "dummy" for k in values["providerKeys"]["values"]})
    if values["postgresql"]["password"]["existingSecret"]:
        env["PLANO_POSTGRES_PASSWORD"] = "dummy"
    env.update({e["name"]: e.get("value", "dummy") for e in values["extraEnv"]})
    return env


def test_default_config_loads_without_any_secret(values: dict[str, Any]) -> None:
    config = load_config_text(yaml.safe_dump(chart_config(values)), env=pod_env(values))
    assert not config.missing_env
    assert config.warnings == ()
    assert config.model_listener.port == DEFAULT_PORTS["model"]


def test_full_example_loads_with_the_variables_the_chart_provides(
    full_values: dict[str, Any],
) -> None:
    config = load_config_text(yaml.safe_dump(chart_config(full_values)), env=pod_env(full_values))
    assert not config.missing_env, config.missing_env
    assert config.ratelimit_backend.type == "redis"
    assert config.routing.session_cache.type == "redis"
    assert config.state_storage is not None and config.state_storage.type == "postgres"
    assert "dummy" in (config.state_storage.connection_string or "")
    assert {lc.type for lc in config.listeners} == {"model", "prompt", "agent"}


def test_admin_port_and_probes_match_the_admin_listener(values: dict[str, Any]) -> None:
    assert values["admin"]["port"] == admin.DEFAULT_PORT
    deployment = (CHART / "templates" / "deployment.yaml").read_text()
    assert deployment.count("path: /healthz") == 3  # startup, readiness, liveness
    assert deployment.count("port: admin") == 3
    for name in (admin.ENV_ADDRESS, admin.ENV_PORT, "PLANO_HOME"):
        assert f"name: {name}" in deployment
    assert "value: 0.0.0.0" in deployment
    assert "mountPath: /tmp" in deployment
    assert dockerfile_env()["PLANO_HOME"] == "/tmp/plano"


def test_config_is_mounted_where_the_image_reads_it() -> None:
    deployment = (CHART / "templates" / "deployment.yaml").read_text()
    assert "mountPath: /etc/plano\n" in deployment  # a directory (subPath mounts never update)
    configmap = (CHART / "templates" / "configmap.yaml").read_text()
    assert "config.yaml: |" in configmap


def test_runs_as_the_image_user_on_a_read_only_root(values: dict[str, Any]) -> None:
    uid = dockerfile_one("USER").split(":")[0]
    pod = values["podSecurityContext"]
    assert pod["runAsNonRoot"] is True and str(pod["runAsUser"]) == uid
    assert values["securityContext"]["readOnlyRootFilesystem"] is True
    assert values["securityContext"]["allowPrivilegeEscalation"] is False


def test_values_files_match_the_schema(values: dict[str, Any], full_values: dict[str, Any]) -> None:
    jsonschema = pytest.importorskip("jsonschema")
    schema = load_yaml(CHART / "values.schema.json")
    jsonschema.Draft7Validator.check_schema(schema)
    validator = jsonschema.Draft7Validator(schema)
    for name, data in (("values.yaml", values), ("full-values.yaml", full_values)):
        errors = [f"{list(e.path)}: {e.message}" for e in validator.iter_errors(data)]
        assert not errors, (name, errors)
    bad = merged(values, {"workers": 0})
    assert any(validator.iter_errors(bad))


def test_every_documented_value_is_in_the_docs_table(values: dict[str, Any]) -> None:
    docs = (ROOT / "docs" / "operations.md").read_text()
    section = docs.split("## Container image, compose and Kubernetes", 1)[1]
    for key in values:
        assert f"`{key}" in section, f"values.{key} is not in docs/operations.md"
