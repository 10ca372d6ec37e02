"""Settings read from the environment, and the telemetry they produce."""

from __future__ import annotations

import logging
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

from devrun.mesh import free_port
from gateway.settings import GatewaySettings
from inventory.settings import InventorySettings
from orders.settings import OrdersSettings
from telemetry import (
    SDK_BATCH_LOGGER,
    Telemetry,
    TelemetrySettings,
    build_exporters,
    build_resource,
    setup_telemetry,
)
from telemetry.otlp import FastOTLPSpanExporter


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
        ("otlp", "grpc", [FastOTLPSpanExporter]),
        ("otlp", "http/protobuf", [HttpExporter]),
        ("zipkin", "grpc", [ZipkinExporter]),
        ("console", "grpc", [ConsoleSpanExporter]),
        ("otlp,console", "grpc", [FastOTLPSpanExporter, ConsoleSpanExporter]),
        ("none", "grpc", []),
    ],
)
def test_otel_traces_exporter_selects_exporters(
    monkeypatch: pytest.MonkeyPatch, exporter: str, protocol: str, expected: list[type]
) -> None:
    monkeypatch.setenv("OTEL_TRACES_EXPORTER", exporter)
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_PROTOCOL", protocol)
    assert [type(e) for e in build_exporters(TelemetrySettings())] == expected


def test_the_sdk_encoder_can_be_chosen_back(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRACEMESH_OTLP_ENCODER", "stock")
    assert [type(e) for e in build_exporters(TelemetrySettings())] == [GrpcExporter]
    monkeypatch.setenv("TRACEMESH_OTLP_ENCODER", "protobuf-please")
    with pytest.raises(ValidationError):
        TelemetrySettings()


@pytest.mark.parametrize("exporter", ["jaeger", "otlp,none", ""])
def test_unknown_exporters_fail_at_start_up(monkeypatch: pytest.MonkeyPatch, exporter: str) -> None:
    monkeypatch.setenv("OTEL_TRACES_EXPORTER", exporter)
    with pytest.raises(ValidationError):
        TelemetrySettings()


def test_resource_names_the_service_version_and_environment() -> None:
    attributes = build_resource("orders").attributes
    assert attributes["service.name"] == "orders"
    assert attributes["service.version"]
    assert attributes["deployment.environment.name"] == "development"
    assert attributes["deployment.environment"] == "development"


def test_standard_variables_override_the_resource_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_SERVICE_NAME", "orders-canary")
    monkeypatch.setenv("OTEL_RESOURCE_ATTRIBUTES", "deployment.environment.name=staging,team=checkout")
    attributes = build_resource("orders").attributes
    assert attributes["service.name"] == "orders-canary"
    assert attributes["deployment.environment.name"] == "staging"
    assert attributes["deployment.environment"] == "staging"
    assert attributes["team"] == "checkout"


def test_sdk_disabled_installs_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_SDK_DISABLED", "true")
    telemetry = setup_telemetry("gateway", set_global=False)
    assert not telemetry.enabled
    assert telemetry.grpc_server_interceptors() == []
    assert telemetry.grpc_client_interceptors() == []
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


@pytest.fixture
def backend_down(monkeypatch: pytest.MonkeyPatch) -> Telemetry:
    """A service's telemetry whose queue of 64 fills while the first export waits on an endpoint where
    nothing listens."""
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", f"http://127.0.0.1:{free_port()}")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_TIMEOUT", "1")
    monkeypatch.setenv("OTEL_BSP_MAX_QUEUE_SIZE", "64")
    monkeypatch.setenv("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", "64")
    return setup_telemetry("orders", TelemetrySettings(), set_global=False)


def test_spans_dropped_on_a_full_queue_are_counted_and_logged_at_shutdown(
    backend_down: Telemetry, caplog: pytest.LogCaptureFixture
) -> None:
    telemetry = backend_down
    tracer = telemetry.tracer("test")
    assert telemetry.spans_dropped() == 0
    for _ in range(500):
        tracer.start_span("lost or not").end()
    dropped = telemetry.spans_dropped()
    # Each failed export frees a batch's room in the queue, so how many get dropped depends on timing; at
    # least the 64 spans the queue holds were not.
    assert 0 < dropped <= 500 - 64
    with caplog.at_level(logging.INFO, logger="telemetry"):
        telemetry.shutdown(timeout_seconds=3)
    assert f"spans dropped since start (export queue full): {telemetry.spans_dropped()}" in caplog.text


def test_a_full_queue_is_reported_once_per_period_not_once_per_span(
    backend_down: Telemetry, caplog: pytest.LogCaptureFixture
) -> None:
    telemetry = backend_down
    tracer = telemetry.tracer("test")
    with caplog.at_level(logging.WARNING):
        for _ in range(500):
            tracer.start_span("lost or not").end()
        reported = telemetry.report_drops()
        again = telemetry.report_drops()  # nothing ended since: nothing more to say
    telemetry.shutdown(timeout_seconds=3)
    assert reported == telemetry.spans_dropped() > 0
    assert again == 0
    assert caplog.text.count("export queue full:") == 1
    assert f"{reported} spans dropped in the last period, {reported} since start" in caplog.text
    # The SDK's own warning, built for every dropped span, is silenced; its export errors are not.
    assert "Queue full" not in caplog.text
    assert logging.getLogger(SDK_BATCH_LOGGER).getEffectiveLevel() == logging.ERROR


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
