"""Spans dropped on the way out (a trace backend down or too slow): counted, and reported once a period."""

from __future__ import annotations

import logging
import os

import pytest

from devrun.mesh import free_port
from tracemesh_common.drops import SDK_BATCH_LOGGER
from tracemesh_common.settings import TelemetrySettings
from tracemesh_common.tracing import Telemetry, setup_telemetry


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
    assert telemetry.drops is not None
    tracer = telemetry.tracer("test")
    assert telemetry.drops.spans_dropped() == 0
    for _ in range(500):
        tracer.start_span("lost or not").end()
    dropped = telemetry.drops.spans_dropped()
    # Each failed export frees a batch's room in the queue, so how many get dropped depends on timing; at
    # least the 64 spans the queue holds were not.
    assert 0 < dropped <= 500 - 64
    with caplog.at_level(logging.INFO, logger="tracemesh_common.drops"):
        telemetry.shutdown(timeout_seconds=3)
    assert f"spans dropped since start (export queue full): {telemetry.drops.spans_dropped()}" in caplog.text


def test_a_full_queue_is_reported_once_per_period_not_once_per_span(
    backend_down: Telemetry, caplog: pytest.LogCaptureFixture
) -> None:
    telemetry = backend_down
    assert telemetry.drops is not None
    tracer = telemetry.tracer("test")
    with caplog.at_level(logging.WARNING):
        for _ in range(500):
            tracer.start_span("lost or not").end()
        reported = telemetry.drops.report()
        again = telemetry.drops.report()  # nothing ended since: nothing more to say
    telemetry.shutdown(timeout_seconds=3)
    assert reported == telemetry.drops.spans_dropped() > 0
    assert again == 0
    assert caplog.text.count("export queue full:") == 1
    assert f"{reported} spans dropped in the last period, {reported} since start" in caplog.text
    # The SDK's own warning, built for every dropped span, is silenced; its export errors are not.
    assert "Queue full" not in caplog.text
    assert logging.getLogger(SDK_BATCH_LOGGER).getEffectiveLevel() == logging.ERROR


def test_counting_leaves_the_process_environment_as_it_was(backend_down: Telemetry) -> None:
    # The SDK counts its drops only when OTEL_PYTHON_SDK_INTERNAL_METRICS_ENABLED is true as a processor is
    # made: the switch is turned on for that moment only, so a test or a child process inherits nothing.
    assert "OTEL_PYTHON_SDK_INTERNAL_METRICS_ENABLED" not in os.environ
    backend_down.shutdown(timeout_seconds=3)
