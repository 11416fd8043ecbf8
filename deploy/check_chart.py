"""Lint, render and schema-check the Helm chart offline (run by deploy/check in its tools venv).

    python deploy/check_chart.py OUT_DIR

- `helm lint --strict` with the default values and with ci/full-values.yaml (Helm's own Go code,
  through helm-python-sdk; no helm binary and no cluster);
- `helm template` of both value sets, every manifest checked against the Kubernetes OpenAPI schemas
  (kubernetes-validate, strict: unknown fields are errors) of the oldest and newest Kubernetes the
  chart supports; the ServiceMonitor (a CRD without a bundled schema) gets a structural check;
- values.schema.json must reject bad values (so it is really applied);
- the rendered gateway configs are written to OUT_DIR/<values>.config.yaml for `plano validate`,
  and every config listener must be a container and Service port.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import helm_python as helm
import kubernetes_validate
import kubernetes_validate.version
import yaml

ROOT = Path(__file__).resolve().parent.parent
CHART = ROOT / "deploy" / "helm" / "plano"
KUBE_VERSIONS = ("1.25.0", "1.37.0")  # Chart.yaml kubeVersion ">=1.25.0-0" .. the newest schema
VALUE_SETS: dict[str, Path | None] = {"default": None, "full": CHART / "ci" / "full-values.yaml"}
# Values that values.schema.json must refuse.
BAD_VALUES: list[dict[str, Any]] = [
    {"workers": 0},
    {"wrokers": 2},
    {"config": {"version": "v0.3.0", "listeners": []}},
    {"redis": {"url": "http://redis:6379"}},
    {"admin": {"port": 70000}},
]

failures: list[str] = []


def fail(message: str) -> None:
    failures.append(message)
    print(f"FAIL {message}", file=sys.stderr)


def load_values(path: Path | None) -> dict[str, Any] | None:
    if path is None:
        return None
    data = yaml.safe_load(path.read_text())
    assert isinstance(data, dict), path
    return data


def lint(name: str, values: dict[str, Any] | None) -> None:
    report = helm.lint(str(CHART), values, strict=True)
    for msg in report.get("messages") or []:
        print(f"  lint[{name}] {msg.get('path')}: {msg.get('error')} (severity {msg['severity']})")
    if report.get("errors"):
        fail(f"helm lint --strict ({name} values): {report['errors']}")
    else:
        print(f"ok   helm lint --strict ({name} values)")


def render(name: str, values: dict[str, Any] | None) -> list[dict[str, Any]]:
    with helm.Chart.load(str(CHART)) as chart:
        manifests = chart.render(values, name="plano", namespace="plano")
    docs: list[dict[str, Any]] = []
    for template, text in sorted(manifests.items()):
        if template.endswith("NOTES.txt"):
            if not text.strip():
                fail(f"{template} ({name}) rendered empty")
            continue
        for doc in yaml.safe_load_all(text):
            if doc is None:
                continue
            if not isinstance(doc, dict) or "kind" not in doc:
                fail(f"{template} ({name}): not a Kubernetes object: {doc!r:.80}")
                continue
            docs.append(doc)
    print(f"ok   helm template ({name} values): {', '.join(d['kind'] for d in docs)}")
    return docs


def check_schema(name: str, docs: list[dict[str, Any]]) -> None:
    for doc in docs:
        what = f"{doc['kind']}/{doc.get('metadata', {}).get('name')} ({name} values)"
        if doc["kind"] == "ServiceMonitor":
            check_service_monitor(what, doc)
            continue
        for version in KUBE_VERSIONS:
            try:
                kubernetes_validate.validate(doc, version, strict=True)
            except kubernetes_validate.ValidationError as exc:
                fail(f"{what} against Kubernetes {version}: {exc.message} at {list(exc.path)}")
            except kubernetes_validate.SchemaNotFoundError:
                fail(f"{what}: no schema for {doc.get('apiVersion')} in Kubernetes {version}")
    print(f"ok   manifests ({name} values) against Kubernetes {' and '.join(KUBE_VERSIONS)}")


def check_service_monitor(what: str, doc: dict[str, Any]) -> None:
    spec = doc.get("spec") or {}
    endpoints = spec.get("endpoints") or []
    if doc.get("apiVersion") != "monitoring.coreos.com/v1" or not endpoints:
        fail(f"{what}: apiVersion monitoring.coreos.com/v1 with endpoints expected")
    if not (spec.get("selector") or {}).get("matchLabels"):
        fail(f"{what}: spec.selector.matchLabels expected")
    for ep in endpoints:
        if ep.get("port") != "admin" or ep.get("path") != "/metrics":
            fail(f"{what}: endpoint {ep} should scrape port admin, path /metrics")


def check_ports(name: str, docs: list[dict[str, Any]], out: Path) -> None:
    by_kind = {d["kind"]: d for d in docs}
    config = yaml.safe_load(by_kind["ConfigMap"]["data"]["config.yaml"])
    (out / f"{name}.config.yaml").write_text(by_kind["ConfigMap"]["data"]["config.yaml"])
    listener_ports = {int(lc["port"]) for lc in config["listeners"]}
    container = by_kind["Deployment"]["spec"]["template"]["spec"]["containers"][0]
    container_ports = {p["containerPort"] for p in container["ports"]}
    service_ports = {p["port"] for p in by_kind["Service"]["spec"]["ports"]}
    for port in sorted(listener_ports):
        if port not in container_ports or port not in service_ports:
            fail(f"listener port {port} ({name}) is not a container and Service port")
    print(f"ok   listener ports {sorted(listener_ports)} published ({name} values)")


def check_schema_rejects() -> None:
    for bad in BAD_VALUES:
        with helm.Chart.load(str(CHART)) as chart:
            try:
                chart.validate_schema(bad)
            except helm.HelmError:
                continue
        fail(f"values.schema.json accepted {bad}")
    print(f"ok   values.schema.json rejects {len(BAD_VALUES)} bad value sets")


def main() -> int:
    out = Path(sys.argv[1])
    out.mkdir(parents=True, exist_ok=True)
    print(f"helm SDK {helm.helm_sdk_version()}, kubernetes-validate {kubernetes_validate.version.__version__}")
    for name, path in VALUE_SETS.items():
        values = load_values(path)
        lint(name, values)
        docs = render(name, values)
        check_schema(name, docs)
        check_ports(name, docs, out)
    check_schema_rejects()
    if failures:
        print(f"{len(failures)} chart check(s) failed", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
