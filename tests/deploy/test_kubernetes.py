"""deploy/k8s: rendered by kubectl's own kustomize, validated against the Kubernetes schemas, and checked
against the code and against docker-compose.yml."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml
from pydantic import ValidationError

from gateway.edge import TraceContextPolicy
from gateway.settings import GatewaySettings
from orders.settings import OrdersSettings
from tests.deploy.test_compose import config as compose_config
from tests.deploy.variables import PORT_VARIABLE, SETTINGS, is_read_by
from tracemesh_common.lifecycle import HTTP_DRAIN_SECONDS
from tracemesh_common.tracing import SHUTDOWN_FLUSH_SECONDS
from tracemesh_demo.gateway import GatewayDemoSettings

ROOT = Path(__file__).resolve().parents[2]
KUBECTL = shutil.which("kubectl", path=str(Path(sys.executable).parent)) or "kubectl"
# The Kubernetes version the manifests are written for (and validated against).
KUBERNETES_VERSION = "1.34.0"
TARGETS = ["deploy/k8s/base", "deploy/k8s/overlays/production"]
APP_SERVICES = tuple(SETTINGS)


def render(target: str) -> list[dict[str, Any]]:
    result = subprocess.run(
        [KUBECTL, "kustomize", target], cwd=ROOT, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


def by_kind(docs: list[dict[str, Any]], kind: str) -> dict[str, dict[str, Any]]:
    return {doc["metadata"]["name"]: doc for doc in docs if doc["kind"] == kind}


def workloads(docs: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return by_kind(docs, "Deployment") | by_kind(docs, "StatefulSet")


def environment(docs: list[dict[str, Any]], service: str) -> dict[str, str]:
    """What the service's container gets: its ConfigMaps, and the names of its secret variables."""
    container = workloads(docs)[service]["spec"]["template"]["spec"]["containers"][0]
    config_maps = by_kind(docs, "ConfigMap")
    env: dict[str, str] = {}
    for source in container.get("envFrom", []):
        name = source["configMapRef"]["name"]
        env |= config_maps[name]["data"]
    for variable in container.get("env", []):
        env[variable["name"]] = variable.get("value", "<from secret>")
    return env


@pytest.mark.parametrize("target", TARGETS)
def test_every_manifest_validates_against_the_schemas(target: str) -> None:
    docs = render(target)
    assert len(docs) >= 15
    for doc in docs:
        kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)


@pytest.mark.parametrize("target", TARGETS)
def test_workloads_are_locked_down_probed_and_sized(target: str) -> None:
    for name, workload in workloads(render(target)).items():
        pod = workload["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True, name
        for container in pod["containers"]:
            security = container["securityContext"]
            assert security["readOnlyRootFilesystem"] is True, name
            assert security["allowPrivilegeEscalation"] is False, name
            assert {"requests", "limits"} <= container["resources"].keys(), name
            assert "readinessProbe" in container, name
            assert "livenessProbe" in container, name
        for container in pod.get("initContainers", []):  # they run to completion: no probes
            assert container["securityContext"]["readOnlyRootFilesystem"] is True, name
            assert container["securityContext"]["allowPrivilegeEscalation"] is False, name
            assert {"requests", "limits"} <= container["resources"].keys(), name


@pytest.mark.parametrize("target", TARGETS)
def test_each_database_is_migrated_before_its_service_starts(target: str) -> None:
    for name in ("orders", "inventory"):
        pod = workloads(render(target))[name]["spec"]["template"]["spec"]
        (migrate,) = pod["initContainers"]
        (service,) = pod["containers"]
        assert migrate["image"] == service["image"]
        assert migrate["args"] == [f"{name}.migrate"]
        url = f"{name.upper()}_DATABASE_URL"
        assert [e for e in migrate["env"] if e["name"] == url] == [
            e for e in service["env"] if e["name"] == url
        ]


@pytest.mark.parametrize("target", TARGETS)
def test_termination_grace_outlasts_the_drain_and_the_flush(target: str) -> None:
    docs = render(target)
    for name in APP_SERVICES:
        pod = workloads(docs)[name]["spec"]["template"]["spec"]
        if name == "orders":
            # The drain, then the calls in flight, then the last spans.
            env = environment(docs, name)
            stop = sum(
                float(env.get(f"ORDERS_{field.upper()}", OrdersSettings.model_fields[field].default))
                for field in ("drain_seconds", "shutdown_grace_seconds")
            )
        else:
            stop = HTTP_DRAIN_SECONDS
        assert pod["terminationGracePeriodSeconds"] > stop + SHUTDOWN_FLUSH_SECONDS, name


def test_orders_drains_before_it_stops_taking_calls() -> None:
    assert float(environment(render(TARGETS[0]), "orders")["ORDERS_DRAIN_SECONDS"]) > 0


def test_orders_is_probed_natively_over_grpc_health() -> None:
    container = workloads(render(TARGETS[0]))["orders"]["spec"]["template"]["spec"]["containers"][0]
    port = int(environment(render(TARGETS[0]), "orders")["ORDERS_PORT"])
    assert container["readinessProbe"]["grpc"] == {"port": port}
    assert container["livenessProbe"]["grpc"] == {"port": port}


@pytest.mark.parametrize("target", TARGETS)
def test_configuration_uses_the_same_names_as_compose_and_the_code(target: str) -> None:
    docs = render(target)
    compose = compose_config("default")["services"]
    for service in APP_SERVICES:
        env = environment(docs, service)
        assert [key for key in env if not is_read_by(service, key)] == []
        # Same variable names as compose; values differ only where the platforms differ.
        assert set(env) == set(compose[service]["environment"]), service


@pytest.mark.parametrize("target", TARGETS)
def test_peers_and_ports_match_the_services(target: str) -> None:
    docs = render(target)
    services = by_kind(docs, "Service")
    for name in APP_SERVICES:
        port = int(environment(docs, name)[PORT_VARIABLE[name]])
        container = workloads(docs)[name]["spec"]["template"]["spec"]["containers"][0]
        assert container["args"] == [name]
        assert [p["containerPort"] for p in container["ports"]] == [port]
        assert [p["port"] for p in services[name]["spec"]["ports"]] == [port]
    assert (
        environment(docs, "gateway")["GATEWAY_ORDERS_ADDRESS"]
        == f"orders:{services['orders']['spec']['ports'][0]['port']}"
    )
    assert environment(docs, "orders")["ORDERS_INVENTORY_URL"] == "http://inventory:8081"
    endpoint = environment(docs, "gateway")["OTEL_EXPORTER_OTLP_ENDPOINT"]
    assert endpoint == "http://otel-collector:4317"
    assert 4317 in [p["port"] for p in services["otel-collector"]["spec"]["ports"]]


def test_the_services_refuse_to_start_with_the_committed_placeholders() -> None:
    secret = next(doc for doc in render(TARGETS[0]) if doc["kind"] == "Secret")["stringData"]
    checked = []
    for name, settings in SETTINGS.items():
        if f"{name.upper()}_DATABASE_URL" in secret:
            with pytest.raises(ValidationError, match="placeholder"):
                settings(database_url=secret[f"{name.upper()}_DATABASE_URL"])  # type: ignore[call-arg]
            checked.append(name)
    assert checked == ["orders", "inventory"]


def test_secret_values_are_placeholders() -> None:
    secret = by_kind(render(TARGETS[0]), "Secret")["database-credentials"]
    assert "CHANGE-ME" in secret["stringData"]["POSTGRES_PASSWORD"]
    assert all("CHANGE-ME" in value for key, value in secret["stringData"].items() if key != "POSTGRES_USER")


def test_production_overlay_scales_the_services_and_names_its_environment() -> None:
    docs = render(TARGETS[1])
    for name in APP_SERVICES:
        assert workloads(docs)[name]["spec"]["replicas"] == 2
    assert (
        "deployment.environment.name=production" in environment(docs, "gateway")["OTEL_RESOURCE_ATTRIBUTES"]
    )


def test_network_policies_allow_only_the_chain_and_the_export_path() -> None:
    policies = [doc for doc in render(TARGETS[0]) if doc["kind"] == "NetworkPolicy"]
    (deny,) = [p for p in policies if p["spec"]["podSelector"] == {}]
    assert deny["spec"] == {"podSelector": {}, "policyTypes": ["Ingress"]}  # no rule: nothing comes in
    allowed = set()
    for policy in policies:
        target = policy["spec"]["podSelector"].get("matchLabels", {}).get("app.kubernetes.io/name")
        for rule in policy["spec"].get("ingress", []):
            sources = [
                peer["podSelector"]["matchLabels"]["app.kubernetes.io/name"] for peer in rule.get("from", [])
            ]
            for port in rule["ports"]:
                allowed |= {(source, target, port["port"]) for source in sources or ["anyone"]}
    assert allowed == {
        ("anyone", "gateway", 8080),
        ("gateway", "orders", 50051),
        ("orders", "inventory", 8081),
        ("orders", "postgres", 5432),
        ("inventory", "postgres", 5432),
        *((service, "otel-collector", port) for service in APP_SERVICES for port in (4317, 4318)),
        ("otel-collector", "jaeger", 4317),
    }
    # Each allowed port is one the target really listens on.
    for _source, target, port in allowed:
        container = workloads(render(TARGETS[0]))[target]["spec"]["template"]["spec"]["containers"][0]
        assert port in {p["containerPort"] for p in container["ports"]}, (target, port)


def test_the_demo_cluster_trusts_callers_and_production_does_not() -> None:
    demo, production = (GatewaySettings(**lowercase(environment(render(t), "gateway"))) for t in TARGETS)
    demo_page, production_page = (
        GatewayDemoSettings(**lowercase(environment(render(t), "gateway"))) for t in TARGETS
    )
    assert (demo_page.scenarios_enabled, demo.inbound_trace_context, demo.baggage_allow_list()) == (
        True,
        TraceContextPolicy.TRUST,
        None,
    )
    assert (production_page.scenarios_enabled, production.inbound_trace_context) == (
        False,
        TraceContextPolicy.RESTART,
    )
    assert production.baggage_allow_list() == {"tracemesh.synthetic"}


def lowercase(env: dict[str, str]) -> dict[str, str]:
    """GATEWAY_* variables as GatewaySettings field names."""
    return {
        key.removeprefix("GATEWAY_").lower(): value
        for key, value in env.items()
        if key.startswith("GATEWAY_")
    }


def test_the_collector_configuration_is_complete() -> None:
    collector = yaml.safe_load((ROOT / "deploy/collector/config.yaml").read_text())
    pipeline = collector["service"]["pipelines"]["traces"]
    for section in ("receivers", "processors", "exporters"):
        assert set(pipeline[section]) <= set(collector[section]), section
    assert pipeline["processors"][0] == "memory_limiter"
    policies = {policy["type"]: policy for policy in collector["processors"]["tail_sampling"]["policies"]}
    assert policies["status_code"]["status_code"]["status_codes"] == ["ERROR"]
    assert policies["latency"]["latency"]["threshold_ms"] > 0
    assert collector["exporters"]["otlp/jaeger"]["endpoint"] == "jaeger:4317"
    # Kubernetes and compose mount the same file.
    rendered = by_kind(render(TARGETS[0]), "ConfigMap")
    (config_map,) = [doc for name, doc in rendered.items() if name.startswith("otel-collector-config")]
    assert yaml.safe_load(config_map["data"]["config.yaml"]) == collector
