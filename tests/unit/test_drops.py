"""Spans dropped on the way out (a trace backend down or too slow): counted, reported once a period, and not
sent again and again to a backend that does not answer."""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence

import pytest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

from tools.mesh.ports import free_port
from tracemesh_common.drops import PAUSE_SECONDS, SDK_BATCH_LOGGER, PausingExporter
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


def test_spans_dropped_from_a_full_queue_or_a_failed_export_are_counted_and_logged_at_shutdown(
    backend_down: Telemetry, caplog: pytest.LogCaptureFixture
) -> None:
    telemetry = backend_down
    assert telemetry.drops is not None
    tracer = telemetry.tracer("test")
    assert telemetry.drops.spans_dropped() == 0
    for _ in range(500):
        tracer.start_span("lost or not").end()
    dropped = telemetry.drops.spans_dropped()
    # Dropped from the full queue, or in an export that failed, or unsent during the pause after one: how
    # many of each depends on timing.
    assert dropped > 0
    assert telemetry.drops.queue_full() <= dropped
    with caplog.at_level(logging.INFO, logger="tracemesh_common.drops"):
        telemetry.shutdown(timeout_seconds=3)
    # Nothing was sent: by the end every span is counted (a few twice when the SDK's queue-full count
    # races its worker taking a batch).
    assert telemetry.drops.spans_dropped() >= 500
    total = telemetry.drops.spans_dropped()
    assert f"spans dropped since start (queue full or export failed): {total}" in caplog.text


def test_a_full_queue_is_reported_once_per_period_not_once_per_span(
    backend_down: Telemetry, caplog: pytest.LogCaptureFixture
) -> None:
    telemetry = backend_down
    assert telemetry.drops is not None
    tracer = telemetry.tracer("test")
    with caplog.at_level(logging.WARNING):
        for _ in range(500):
            tracer.start_span("lost or not").end()
        assert telemetry.tracer_provider is not None
        telemetry.tracer_provider.force_flush()  # every span is sent or dropped by now
        reported = telemetry.drops.report()
        again = telemetry.drops.report()  # nothing ended since: nothing more to say
    telemetry.shutdown(timeout_seconds=3)
    assert reported >= 500
    assert again == 0
    assert caplog.text.count("spans dropped:") == 1
    assert f"spans dropped: {reported} in the last period, {reported} since start" in caplog.text
    # The SDK's own warning, built for every dropped span, is silenced; its export errors are not.
    assert "Queue full" not in caplog.text
    assert logging.getLogger(SDK_BATCH_LOGGER).getEffectiveLevel() == logging.ERROR


def test_counting_leaves_the_process_environment_as_it_was(backend_down: Telemetry) -> None:
    # The SDK counts its drops only when OTEL_PYTHON_SDK_INTERNAL_METRICS_ENABLED is true as a processor is
    # made: the switch is turned on for that moment only, so a test or a child process inherits nothing.
    assert "OTEL_PYTHON_SDK_INTERNAL_METRICS_ENABLED" not in os.environ
    backend_down.shutdown(timeout_seconds=3)


class Backend(SpanExporter):
    """An exporter whose backend is up or down, as the test says; counts the batches it was asked to send."""

    def __init__(self) -> None:
        self.up = False
        self.batches = 0

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        self.batches += 1
        return SpanExportResult.SUCCESS if self.up else SpanExportResult.FAILURE

    def shutdown(self) -> None:
        pass


def spans(count: int) -> list[ReadableSpan]:
    tracer = TracerProvider().get_tracer("test")
    made = [tracer.start_span(f"span {index}") for index in range(count)]
    for span in made:
        span.end()
    return made  # type: ignore[return-value]


def test_after_a_failed_export_batches_are_dropped_unsent_for_a_pause() -> None:
    now = [100.0]
    backend = Backend()
    exporter = PausingExporter(backend, clock=lambda: now[0])
    assert exporter.export(spans(3)) is SpanExportResult.FAILURE
    assert (backend.batches, exporter.spans_dropped) == (1, 3)
    # Within the pause the backend is not asked: the batch is dropped, and counted.
    now[0] += PAUSE_SECONDS - 0.1
    assert exporter.export(spans(2)) is SpanExportResult.FAILURE
    assert (backend.batches, exporter.spans_dropped) == (1, 5)
    # After it, one batch is tried; it fails again, and so another pause begins.
    now[0] += 0.2
    assert exporter.export(spans(1)) is SpanExportResult.FAILURE
    now[0] += PAUSE_SECONDS / 2
    exporter.export(spans(1))
    assert (backend.batches, exporter.spans_dropped) == (2, 7)


def test_a_backend_back_up_is_found_after_the_pause_and_then_nothing_pauses() -> None:
    now = [0.0]
    backend = Backend()
    exporter = PausingExporter(backend, clock=lambda: now[0])
    exporter.export(spans(1))
    backend.up = True
    now[0] += PAUSE_SECONDS + 0.1
    assert exporter.export(spans(4)) is SpanExportResult.SUCCESS
    assert exporter.export(spans(4)) is SpanExportResult.SUCCESS
    assert (backend.batches, exporter.spans_dropped) == (3, 1)
