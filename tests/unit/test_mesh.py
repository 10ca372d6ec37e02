"""What the mesh is made of: what `make run` starts, depending on where spans are meant to go, and where
each service listens."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import pytest

from gateway.settings import GatewaySettings
from inventory.settings import InventorySettings
from orders.settings import OrdersSettings
from tools.mesh.plan import Addresses, plan, services, waterfall_address

ROOT = Path(__file__).resolve().parents[2]


def test_receives_where_the_exporters_send_by_default() -> None:
    assert waterfall_address({}) == "127.0.0.1:4317"
    assert waterfall_address({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://localhost:4317"}) == "127.0.0.1:4317"
    assert [name for name, _argv, _env in plan({})] == ["inventory", "orders", "gateway"]


def test_leaves_a_real_collector_alone() -> None:
    assert waterfall_address({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://jaeger:4317"}) is None
    # A collector or Jaeger already on the default endpoint.
    assert waterfall_address({"TRACEMESH_WATERFALL": "off"}) is None


def test_the_local_demo_offers_scenarios() -> None:
    (_, _, env), *_ = plan({})
    assert env["GATEWAY_SCENARIOS_ENABLED"] == "true"
    (_, _, env), *_ = plan({"GATEWAY_SCENARIOS_ENABLED": "false"})
    assert env["GATEWAY_SCENARIOS_ENABLED"] == "false"


def test_exports_quickly_unless_told_otherwise() -> None:
    (_, _, env), *_ = plan({})
    assert env["OTEL_BSP_SCHEDULE_DELAY"] == "500"
    (_, _, env), *_ = plan({"OTEL_BSP_SCHEDULE_DELAY": "5000"})
    assert env["OTEL_BSP_SCHEDULE_DELAY"] == "5000"


def test_make_runs_addresses_are_where_the_services_listen_by_default() -> None:
    # The docs checker and the benchmark look for make run's mesh there.
    make_run = Addresses()
    assert GatewaySettings.model_fields["port"].default == make_run.gateway
    assert GatewaySettings.model_fields["orders_address"].default == make_run.orders_address
    assert OrdersSettings.model_fields["port"].default == make_run.orders
    assert OrdersSettings.model_fields["inventory_url"].default == make_run.inventory_url
    assert InventorySettings.model_fields["port"].default == make_run.inventory


def test_other_addresses_are_settings_each_service_reads(monkeypatch: pytest.MonkeyPatch) -> None:
    addresses = Addresses(gateway=9001, inventory=9002, orders=9003, otlp=9004)
    for process in services({}, addresses.settings()):
        for key, value in process.env.items():
            monkeypatch.setenv(key, value)
    gateway, orders, inventory = GatewaySettings(), OrdersSettings(), InventorySettings()
    assert (gateway.port, gateway.orders_address) == (9001, "127.0.0.1:9003")
    assert (orders.port, orders.inventory_url) == (9003, "http://127.0.0.1:9002")
    assert inventory.port == 9002


def test_make_run_and_the_tests_start_the_same_services() -> None:
    started_by_make_run = [(name, argv) for name, argv, _env in plan({})]
    assert started_by_make_run == [(name, argv) for name, argv, _env in services({}, Addresses().settings())]


def test_a_stopped_run_unwinds_and_stops_what_it_started(tmp_path: Path) -> None:
    # What `make bench` and `make chaos` do first: a SIGTERM then runs their `finally` blocks, which stop the
    # services they started, instead of ending Python at once and leaving the services running.
    script = (
        "import sys, time\n"
        "from tools.mesh.processes import unwind_on_sigterm\n"
        "unwind_on_sigterm()\n"
        "try:\n"
        "    print('started', flush=True)\n"
        "    time.sleep(30)\n"
        "finally:\n"
        f"    open({str(tmp_path / 'stopped')!r}, 'w').close()\n"
    )
    run = subprocess.Popen([sys.executable, "-c", script], cwd=ROOT, stdout=subprocess.PIPE, text=True)
    assert run.stdout is not None
    assert run.stdout.readline() == "started\n"
    run.send_signal(signal.SIGTERM)
    assert run.wait(timeout=10) == 128 + signal.SIGTERM
    assert (tmp_path / "stopped").exists()
