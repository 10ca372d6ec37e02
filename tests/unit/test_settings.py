"""Settings read from the environment, and the telemetry they produce."""

from __future__ import annotations

import time

import pytest
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpExporter
from opentelemetry.exporter.zipkin.json import ZipkinExporter
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    ConsoleSpanExporter,
    SpanExporter,
    SpanExportResult,
)
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from pydantic import ValidationError
from pydantic_settings import BaseSettings

from gateway.settings import GatewaySettings
from inventory.settings import InventorySettings
from orders.settings import OrdersSettings
from tracemesh_common.fast_otlp import FastOTLPSpanExporter
from tracemesh_common.settings import TelemetrySettings, resource_for
from tracemesh_common.tracing import exporters, setup_telemetry


def test_defaults_run_the_mesh_locally() -> None:
    assert GatewaySettings().port == 8080
    assert GatewaySettings().orders_address == f"127.0.0.1:{OrdersSettings().port}"
    assert OrdersSettings().inventory_url == f"http://127.0.0.1:{InventorySettings().port}"
    assert OrdersSettings().database_url.startswith("sqlite+aiosqlite:")


def test_each_service_reads_its_own_prefix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ORDERS_INVENTORY_URL", "http://inventory:8081")
    monkeypatch.setenv("INVENTORY_DATABASE_URL", "postgresql+asyncpg://u@db/inventory")
    monkeypatch.setenv("GATEWAY_PORT", "9000")
    assert OrdersSettings().inventory_url == "http://inventory:8081"
    assert InventorySettings().database_url == "postgresql+asyncpg://u@db/inventory"
    assert GatewaySettings().port == 9000


def test_invalid_values_fail_at_start_up(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GATEWAY_ORDERS_TIMEOUT_SECONDS", "0")
    with pytest.raises(ValidationError):
        GatewaySettings()


@pytest.mark.parametrize("settings", [OrdersSettings, InventorySettings])
def test_a_placeholder_password_fails_at_start_up(settings: type[BaseSettings]) -> None:
    with pytest.raises(ValidationError, match="placeholder CHANGE-ME"):
        settings(database_url="postgresql+asyncpg://tracemesh:CHANGE-ME@postgres:5432/orders")


@pytest.mark.parametrize(
    ("exporter", "protocol", "expected"),
    [
        ("otlp", "grpc", [GrpcExporter]),
        ("otlp", "http/protobuf", [HttpExporter]),
        ("zipkin", "grpc", [ZipkinExporter]),
        ("console", "grpc", [ConsoleSpanExporter]),
        ("otlp,console", "grpc", [GrpcExporter, ConsoleSpanExporter]),
        ("none", "grpc", []),
    ],
)
def test_otel_traces_exporter_selects_exporters(
    monkeypatch: pytest.MonkeyPatch, exporter: str, protocol: str, expected: list[type]
) -> None:
    monkeypatch.setenv("OTEL_TRACES_EXPORTER", exporter)
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_PROTOCOL", protocol)
    assert [type(e) for e in exporters(TelemetrySettings())] == expected


def test_the_fast_encoder_is_an_opt_in(monkeypatch: pytest.MonkeyPatch) -> None:
    assert TelemetrySettings().otlp_encoder == "stock"
    monkeypatch.setenv("TRACEMESH_OTLP_ENCODER", "fast")
    assert [type(e) for e in exporters(TelemetrySettings())] == [FastOTLPSpanExporter]
    assert FastOTLPSpanExporter is not GrpcExporter  # see test_fast_otlp.py for when it would be
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf")  # it encodes OTLP/gRPC only
    assert [type(e) for e in exporters(TelemetrySettings())] == [HttpExporter]
    monkeypatch.setenv("TRACEMESH_OTLP_ENCODER", "protobuf-please")
    with pytest.raises(ValidationError):
        TelemetrySettings()


@pytest.mark.parametrize("exporter", ["jaeger", "otlp,none", ""])
def test_unknown_exporters_fail_at_start_up(monkeypatch: pytest.MonkeyPatch, exporter: str) -> None:
    monkeypatch.setenv("OTEL_TRACES_EXPORTER", exporter)
    with pytest.raises(ValidationError):
        TelemetrySettings()


def test_resource_names_the_service_version_and_environment() -> None:
    attributes = resource_for("orders").attributes
    assert attributes["service.name"] == "orders"
    assert attributes["service.version"]
    assert attributes["deployment.environment.name"] == "development"
    assert attributes["deployment.environment"] == "development"


def test_standard_variables_override_the_resource_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_SERVICE_NAME", "orders-canary")
    monkeypatch.setenv("OTEL_RESOURCE_ATTRIBUTES", "deployment.environment.name=staging,team=checkout")
    attributes = resource_for("orders").attributes
    assert attributes["service.name"] == "orders-canary"
    assert attributes["deployment.environment.name"] == "staging"
    assert attributes["deployment.environment"] == "staging"
    assert attributes["team"] == "checkout"


def test_sdk_disabled_installs_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_SDK_DISABLED", "true")
    telemetry = setup_telemetry("gateway", set_global=False)
    assert telemetry.tracer_provider is None
    assert telemetry.grpc_server_interceptors() == []
    with telemetry.tracer("test").start_as_current_span("nothing") as span:
        assert not span.get_span_context().is_valid


def test_sampler_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_TRACES_SAMPLER", "parentbased_traceidratio")
    monkeypatch.setenv("OTEL_TRACES_SAMPLER_ARG", "0.01")
    telemetry = setup_telemetry("gateway", TelemetrySettings(traces_exporter="none"), set_global=False)
    assert telemetry.tracer_provider is not None
    assert "0.01" in telemetry.tracer_provider.sampler.get_description()


def test_logs_and_metrics_exporters_can_only_be_off(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_LOGS_EXPORTER", "none")
    monkeypatch.setenv("OTEL_METRICS_EXPORTER", "none")
    assert TelemetrySettings().logs_exporter == "none"
    monkeypatch.setenv("OTEL_METRICS_EXPORTER", "otlp")
    with pytest.raises(ValidationError):
        TelemetrySettings()


def test_shutdown_gives_up_on_a_backend_that_never_takes_the_spans() -> None:
    class Stuck(SpanExporter):
        def export(self, spans: object) -> SpanExportResult:
            time.sleep(30)
            return SpanExportResult.FAILURE

    telemetry = setup_telemetry(
        "orders",
        TelemetrySettings(traces_exporter="none"),
        span_processors=[BatchSpanProcessor(Stuck())],
        set_global=False,
    )
    telemetry.tracer("test").start_span("queued").end()
    started = time.monotonic()
    assert telemetry.shutdown(timeout_seconds=0.5) is False
    assert time.monotonic() - started < 2


def test_shutdown_flushes_what_a_working_backend_takes() -> None:
    exporter = InMemorySpanExporter()
    telemetry = setup_telemetry(
        "orders",
        TelemetrySettings(traces_exporter="none"),
        span_processors=[BatchSpanProcessor(exporter)],
        set_global=False,
    )
    telemetry.tracer("test").start_span("queued").end()
    assert telemetry.shutdown() is True
    assert [span.name for span in exporter.get_finished_spans()] == ["queued"]
