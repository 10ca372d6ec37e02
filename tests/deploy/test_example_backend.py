"""The template guide's backend example in docker-compose.yml and deploy/k8s, as a fork adds it (on a copy of
the tree): checked offline by the real Compose v2 binary, kubectl's kustomize and the Kubernetes schemas, and
against the code of shipping and of the fork's orders."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import kubernetes_validate
import pytest
import yaml
from pydantic import ValidationError
from sqlalchemy.engine import make_url

from shipping.settings import ShippingSettings
from tests.deploy.test_compose import COMPOSE
from tests.deploy.test_kubernetes import KUBECTL, KUBERNETES_VERSION, by_kind, environment, workloads
from tests.deploy.variables import is_sdk_variable, variables_of
from tests.fork import forked_tree, python_path
from tracemesh_common.settings import TelemetrySettings

TARGETS = ["deploy/k8s/base", "deploy/k8s/overlays/production"]


@pytest.fixture(scope="module")
def fork(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return forked_tree(tmp_path_factory.mktemp("fork"))


@pytest.fixture(scope="module")
def compose(fork: Path) -> dict[str, Any]:
    """The fork's compose model, as Compose reads it; `config --quiet` must accept it first."""
    env = {"PATH": "/usr/bin:/bin"}
    valid = subprocess.run([COMPOSE, "config", "--quiet"], cwd=fork, capture_output=True, text=True, env=env)
    assert valid.returncode == 0, valid.stderr
    result = subprocess.run(
        [COMPOSE, "config", "--format", "json"], cwd=fork, capture_output=True, text=True, env=env, check=True
    )
    services: dict[str, Any] = json.loads(result.stdout)["services"]
    return services


def render(fork: Path, target: str) -> list[dict[str, Any]]:
    result = subprocess.run([KUBECTL, "kustomize", target], cwd=fork, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


def fork_orders_variables(fork: Path) -> set[str]:
    """The variables the fork's OrdersSettings reads (orders as the guide changes it, not this checkout's)."""
    script = (
        "import json; from orders.settings import OrdersSettings as S; "
        "print(json.dumps([S.model_config['env_prefix'] + name for name in S.model_fields]))"
    )
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": python_path(fork)}
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True)
    return {name.upper() for name in json.loads(done.stdout)}


def is_read_by_shipping(variable: str) -> bool:
    read = variables_of(ShippingSettings) | variables_of(TelemetrySettings)
    return variable in read or is_sdk_variable(variable)


def test_compose_runs_shipping_after_its_migration_and_orders_after_shipping(compose: dict[str, Any]) -> None:
    shipping, migrate, orders = compose["shipping"], compose["shipping-migrate"], compose["orders"]
    assert shipping["command"] == ["shipping"]
    assert (migrate["command"], migrate["restart"]) == (["shipping.migrate"], "no")
    url = "SHIPPING_DATABASE_URL"
    assert migrate["environment"][url] == shipping["environment"][url]
    assert shipping["depends_on"]["shipping-migrate"]["condition"] == "service_completed_successfully"
    assert migrate["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert orders["depends_on"]["shipping"]["condition"] == "service_healthy"
    # A real check, in exec form: the gRPC health service, as orders'.
    assert shipping["healthcheck"]["test"] == ["CMD", "python", "-m", "shipping.healthcheck"]
    assert shipping["stop_grace_period"] == orders["stop_grace_period"]
    assert "ports" not in shipping  # reached inside the compose network only


def test_compose_settings_are_read_by_the_code_and_name_each_other(
    fork: Path, compose: dict[str, Any]
) -> None:
    shipping, orders = compose["shipping"]["environment"], compose["orders"]["environment"]
    assert [key for key in shipping if not is_read_by_shipping(key)] == []
    assert shipping["OTEL_SERVICE_NAME"] == "shipping"
    assert shipping["OTEL_EXPORTER_OTLP_ENDPOINT"] == orders["OTEL_EXPORTER_OTLP_ENDPOINT"]
    # orders finds shipping by its compose name and the port shipping listens on, and reads that variable.
    host, port = orders["ORDERS_SHIPPING_ADDRESS"].rsplit(":", 1)
    assert (host, port) == ("shipping", shipping["SHIPPING_PORT"])
    assert "ORDERS_SHIPPING_ADDRESS" in fork_orders_variables(fork)
    # Its own database, on the compose PostgreSQL, created by the init script.
    database = make_url(shipping["SHIPPING_DATABASE_URL"])
    assert (database.host, database.port, database.drivername) == ("postgres", 5432, "postgresql+asyncpg")
    assert f"CREATE DATABASE {database.database};" in (fork / "deploy/postgres/init.sql").read_text()


@pytest.mark.parametrize("target", TARGETS)
def test_kubernetes_manifests_validate_and_wire_shipping(fork: Path, target: str) -> None:
    docs = render(fork, target)
    for doc in docs:
        kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)
    pod = workloads(docs)["shipping"]["spec"]["template"]["spec"]
    (migrate,) = pod["initContainers"]
    (container,) = pod["containers"]
    assert (migrate["args"], container["args"]) == (["shipping.migrate"], ["shipping"])
    assert migrate["env"] == [e for e in container["env"] if e["name"] == "SHIPPING_DATABASE_URL"]
    env = environment(docs, "shipping")
    assert [key for key in env if not is_read_by_shipping(key)] == []
    port = int(env["SHIPPING_PORT"])
    assert [p["containerPort"] for p in container["ports"]] == [port]
    assert container["readinessProbe"]["grpc"] == container["livenessProbe"]["grpc"] == {"port": port}
    (service_port,) = by_kind(docs, "Service")["shipping"]["spec"]["ports"]
    assert environment(docs, "orders")["ORDERS_SHIPPING_ADDRESS"] == f"shipping:{service_port['port']}"
    expected_replicas = 2 if target.endswith("production") else 1
    assert workloads(docs)["shipping"]["spec"]["replicas"] == expected_replicas


def test_the_secret_key_exists_and_shipping_refuses_its_placeholder(fork: Path) -> None:
    docs = render(fork, TARGETS[0])
    (container,) = workloads(docs)["shipping"]["spec"]["template"]["spec"]["containers"]
    (reference,) = [e["valueFrom"]["secretKeyRef"] for e in container["env"]]
    secret = by_kind(docs, "Secret")[reference["name"]]["stringData"]
    url = secret[reference["key"]]
    assert urlsplit(url).path == "/shipping"
    with pytest.raises(ValidationError, match="placeholder"):
        ShippingSettings(database_url=url)


def test_network_policies_let_orders_reach_shipping_and_shipping_its_database_and_the_collector(
    fork: Path,
) -> None:
    allowed = set()
    for policy in by_kind(render(fork, TARGETS[0]), "NetworkPolicy").values():
        target = policy["spec"]["podSelector"].get("matchLabels", {}).get("app.kubernetes.io/name")
        for rule in policy["spec"].get("ingress", []):
            sources = [
                peer["podSelector"]["matchLabels"]["app.kubernetes.io/name"] for peer in rule.get("from", [])
            ]
            allowed |= {(source, target, port["port"]) for source in sources for port in rule["ports"]}
    involving = {edge for edge in allowed if "shipping" in edge}
    assert involving == {
        ("orders", "shipping", 50052),
        ("shipping", "postgres", 5432),
        ("shipping", "otel-collector", 4317),
        ("shipping", "otel-collector", 4318),
    }
