"""docker-compose.yml, checked offline by the real Compose v2 binary and against the code it runs."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from sqlalchemy.engine import make_url

from devrun.__main__ import plan
from tests.deploy.variables import PORT_VARIABLE, SETTINGS, is_read_by
from tracemesh_common.tracing import SHUTDOWN_FLUSH_SECONDS

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = shutil.which("docker-compose", path=str(Path(sys.executable).parent)) or "docker-compose"
APP_SERVICES = tuple(SETTINGS)
# One-shot services: each database migrated (python -m <service>.migrate) before its service starts.
MIGRATIONS = {"orders": "orders-migrate", "inventory": "inventory-migrate"}
# Each way of starting the stack that the compose file documents.
VARIANTS: dict[str, tuple[list[str], dict[str, str]]] = {
    "default": ([], {}),
    "load": (["--profile", "load"], {}),
    "collector": (["--profile", "collector"], {"TRACEMESH_OTLP_ENDPOINT": "http://otel-collector:4317"}),
}


def compose(variant: str, *args: str) -> subprocess.CompletedProcess[str]:
    flags, variables = VARIANTS[variant]
    # Only PATH and the variant's own variables: the environment of the machine running the tests must
    # not leak in.
    env = {"PATH": "/usr/bin:/bin"} | variables
    return subprocess.run(
        [COMPOSE, *flags, *args], cwd=ROOT, capture_output=True, text=True, env=env, check=False
    )


def config(variant: str) -> dict[str, Any]:
    result = compose(variant, "config", "--format", "json")
    assert result.returncode == 0, result.stderr
    loaded: dict[str, Any] = json.loads(result.stdout)
    return loaded


@pytest.mark.parametrize("variant", VARIANTS)
def test_compose_config_is_valid(variant: str) -> None:
    result = compose(variant, "config", "--quiet")
    assert result.returncode == 0, result.stderr


def test_profiles_add_their_services() -> None:
    assert set(config("default")["services"]) == {"jaeger", "postgres", *APP_SERVICES, *MIGRATIONS.values()}
    assert set(config("load")["services"]) - set(config("default")["services"]) == {"load"}
    assert set(config("collector")["services"]) - set(config("default")["services"]) == {"otel-collector"}


@pytest.mark.parametrize("variant", VARIANTS)
def test_every_variable_set_is_one_the_service_reads(variant: str) -> None:
    services = config(variant)["services"]
    for name in APP_SERVICES:
        unread = [key for key in services[name]["environment"] if not is_read_by(name, key)]
        assert unread == [], f"{name} sets variables its code never reads"


@pytest.mark.parametrize("variant", VARIANTS)
def test_peer_addresses_name_declared_services_and_their_ports(variant: str) -> None:
    services = config(variant)["services"]

    def port_of(service: str) -> int:
        return int(services[service]["environment"][PORT_VARIABLE[service]])

    gateway, orders = services["gateway"]["environment"], services["orders"]["environment"]
    host, port = gateway["GATEWAY_ORDERS_ADDRESS"].rsplit(":", 1)
    assert (host, int(port)) == ("orders", port_of("orders"))
    inventory_url = urlsplit(orders["ORDERS_INVENTORY_URL"])
    assert (inventory_url.hostname, inventory_url.port) == ("inventory", port_of("inventory"))
    init_sql = (ROOT / "deploy/postgres/init.sql").read_text()
    for name in ("orders", "inventory"):
        url = make_url(services[name]["environment"][f"{name.upper()}_DATABASE_URL"])
        assert (url.host, url.port, url.drivername) == ("postgres", 5432, "postgresql+asyncpg")
        assert f"CREATE DATABASE {url.database};" in init_sql
    expected_collector = "otel-collector" if variant == "collector" else "jaeger"
    for name in APP_SERVICES:
        endpoint = urlsplit(services[name]["environment"]["OTEL_EXPORTER_OTLP_ENDPOINT"])
        # With its scheme: "jaeger:4317" alone would be read as scheme "jaeger" and every export would fail.
        assert (endpoint.scheme, endpoint.hostname, endpoint.port) == ("http", expected_collector, 4317)
        assert expected_collector in services
        assert services[name]["environment"]["OTEL_SERVICE_NAME"] == name


def test_services_start_the_same_entry_points_as_make_run() -> None:
    services = config("default")["services"]
    dev_modules = {name: argv[-1] for name, argv, _env in plan({}) if name in APP_SERVICES}
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert 'ENTRYPOINT ["python", "-m"]' in dockerfile
    for name in APP_SERVICES:
        assert services[name]["command"] == [dev_modules[name]]


def test_the_demo_page_offers_scenarios_and_links_to_the_published_jaeger_ui() -> None:
    services = config("default")["services"]
    gateway = services["gateway"]["environment"]
    assert gateway["GATEWAY_SCENARIOS_ENABLED"] == "true"
    ui = urlsplit(gateway["GATEWAY_JAEGER_UI_URL"])
    # The browser follows the link from the host, so it must name the port Jaeger publishes there.
    assert (ui.hostname, str(ui.port)) == ("localhost", services["jaeger"]["ports"][0]["published"])
    # The gateway's localhost is its container: a check from there would find no UI, and hide the links.
    assert gateway["GATEWAY_JAEGER_UI_CHECK"] == "false"


def test_the_load_profile_runs_the_locustfile_of_make_load_against_the_gateway() -> None:
    load = config("load")["services"]["load"]
    assert load["build"]["target"] == "load"
    assert "FROM base AS load" in (ROOT / "Dockerfile").read_text()
    command = load["command"]
    assert command[0] == "tracemesh_demo.loadgen"
    assert command[command.index("--host") + 1] == "http://gateway:8080"
    # Locust's own parser accepts the flags (in a process of its own: importing Locust patches for gevent).
    parse = "import sys; from locust.argument_parser import parse_options; parse_options(args=sys.argv[1:])"
    parsed = subprocess.run([sys.executable, "-c", parse, *command[1:]], capture_output=True, text=True)
    assert parsed.returncode == 0, parsed.stderr
    assert [port["target"] for port in load["ports"]] == [8089]  # Locust's web UI
    unread = [key for key in load["environment"] if not is_read_by("load", key)]
    assert unread == []
    assert load["environment"]["OTEL_EXPORTER_OTLP_ENDPOINT"] == "http://jaeger:4317"


def test_only_the_gateway_and_the_jaeger_ui_are_published() -> None:
    published = {
        (name, port["published"])
        for name, service in config("default")["services"].items()
        for port in service.get("ports", [])
    }
    assert published == {("gateway", "8080"), ("jaeger", "16686")}


@pytest.mark.parametrize("variant", VARIANTS)
def test_long_running_services_have_healthchecks_and_wait_for_each_other(variant: str) -> None:
    services = config(variant)["services"]
    # The collector image has no shell or client to run a check with, `load` is a client, and the
    # migrations run once and exit: who needs them waits for them to complete, not to be healthy.
    unchecked = {"otel-collector", "load", *MIGRATIONS.values()}
    for name, service in services.items():
        for dependency, condition in service.get("depends_on", {}).items():
            one_shot = dependency in MIGRATIONS.values()
            expected = "service_completed_successfully" if one_shot else "service_healthy"
            assert condition["condition"] == expected, (name, dependency)
        if name in unchecked:
            continue
        test = service["healthcheck"]["test"]
        assert test[0] == "CMD", f"{name}: healthcheck must run a real check, in exec form"
        assert not any(word in {"nc", "true"} for word in test), f"{name}: a port check is not a health check"


def test_each_database_is_migrated_before_its_service_starts() -> None:
    services = config("default")["services"]
    for name, job in MIGRATIONS.items():
        variable = f"{name.upper()}_DATABASE_URL"
        assert services[job]["command"] == [f"{name}.migrate"]
        assert services[job]["restart"] == "no"
        assert services[job]["environment"][variable] == services[name]["environment"][variable]
        assert services[name]["depends_on"][job]["condition"] == "service_completed_successfully"
        assert services[job]["depends_on"]["postgres"]["condition"] == "service_healthy"


def test_app_healthchecks_probe_their_own_port_and_readiness() -> None:
    services = config("default")["services"]
    for name in ("gateway", "inventory"):
        port = services[name]["environment"][PORT_VARIABLE[name]]
        assert f"http://127.0.0.1:{port}/readyz" in " ".join(services[name]["healthcheck"]["test"])
    assert services["orders"]["healthcheck"]["test"] == ["CMD", "python", "-m", "orders.healthcheck"]


def test_stop_grace_outlasts_the_drain_and_the_flush() -> None:
    drain_and_flush = 10 + SHUTDOWN_FLUSH_SECONDS  # uvicorn's graceful timeout, then the span flush
    for name in APP_SERVICES:
        grace = config("default")["services"][name]["stop_grace_period"]
        assert grace.endswith("s")
        assert int(grace.rstrip("s")) > drain_and_flush


def test_no_real_secret_is_committed() -> None:
    text = (ROOT / "docker-compose.yml").read_text()
    assert "${POSTGRES_PASSWORD:-local-demo-only}" in text
    services = config("default")["services"]
    assert services["postgres"]["environment"]["POSTGRES_PASSWORD"] == "local-demo-only"
    assert "ports" not in services["postgres"]
