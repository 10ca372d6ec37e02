"""Spans dropped on the way out: counted, reported once a period, not encoded again and again for a backend
that does not answer, and the flush at shutdown that gives up rather than outlast an orchestrator's grace
period.

When the trace backend is down or too slow, the batch processor's queue fills and the oldest span is dropped
to make room; requests never wait. The SDK counts each drop in its self-observability metric
`otel.sdk.processor.span.processed` (error.type=queue_full), read here by an in-process metric reader, so a
service can say "N spans dropped" once every DROP_REPORT_SECONDS instead of the SDK's warning per span.
A batch the exporter failed to send, and the batches skipped while export pauses after a failure
(PausingExporter), are counted as dropped too.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager

from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader, NumberDataPoint
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult

# The SDK's own counter of spans through a processor (semantic conventions for SDK self-observability).
PROCESSED_SPANS_METRIC = "otel.sdk.processor.span.processed"
# How often a service says how many spans it dropped, when it dropped any.
DROP_REPORT_SECONDS = 10.0
# The batch processor's logger. It warns on every span dropped from a full queue; a filter lets one warning
# through per 20 s, but only after the record is built: with the backend down, about half of the SDK's drop
# path (5% of the gateway's CPU in py-spy). The report below says it once a period instead.
SDK_BATCH_LOGGER = "opentelemetry.sdk._shared_internal"
# The SDK counts only when this is true, read when a processor is made.
_SDK_SELF_METRICS = "OTEL_PYTHON_SDK_INTERNAL_METRICS_ENABLED"

# After a failed export, how long export pauses: as long as the OTLP exporters retry a batch by default
# (OTEL_EXPORTER_OTLP_TIMEOUT, 10 s), so a backend that is down costs one batch's retries every 20 s.
PAUSE_SECONDS = 10.0

logger = logging.getLogger(__name__)


class PausingExporter(SpanExporter):
    """Wraps an exporter. When an export fails (the OTLP exporters have already retried it until their
    timeout), the batches that follow are dropped unsent for PAUSE_SECONDS; the first batch after the pause
    is tried again.

    Why: with the backend down, the OTLP/gRPC exporter spends its timeout retrying each batch, re-encoding it
    on every attempt (py-spy, gateway under reads: about 5% of its CPU, half what a live backend's export
    costs, all of it for spans never sent), while the full queue puts every new span through the SDK's drop
    path. Dropping at the exporter during the pause costs neither: the batch is not encoded and the queue
    does not fill. A backend that comes back is found at the end of the pause, at most 10 s on."""

    def __init__(self, exporter: SpanExporter, clock: Callable[[], float] = time.monotonic) -> None:
        self._exporter = exporter
        self._clock = clock
        self._paused_until = 0.0
        # Only the batch processor's worker exports (or a flush, under the same lock): no lock needed here.
        self.spans_dropped = 0

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        if self._clock() < self._paused_until:
            self.spans_dropped += len(spans)
            return SpanExportResult.FAILURE
        result = self._exporter.export(spans)
        if result is not SpanExportResult.SUCCESS:
            self.spans_dropped += len(spans)
            self._paused_until = self._clock() + PAUSE_SECONDS
        return result

    def shutdown(self) -> None:
        self._exporter.shutdown()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return self._exporter.force_flush(timeout_millis)


class DropReporter:
    """Counts the spans the batch processors dropped, and logs how many once every `seconds`."""

    def __init__(self, resource: Resource) -> None:
        self._reader = InMemoryMetricReader()
        # Meters read only in this process: one counter update per batch exported and per span dropped.
        self.meter_provider = MeterProvider(metric_readers=[self._reader], resource=resource)
        self._reported = 0
        self._stop = threading.Event()
        self._exporters: list[PausingExporter] = []

    def batch_processors(self, exporters: Sequence[SpanExporter]) -> list[SpanProcessor]:
        """A batch span processor for each exporter, pausing after a failed export and counting its spans;
        the reports start."""
        self._exporters = [PausingExporter(exporter) for exporter in exporters]
        with self.counting():
            processors: list[SpanProcessor] = [
                BatchSpanProcessor(pausing, meter_provider=self.meter_provider) for pausing in self._exporters
            ]
        self.start()
        return processors

    @contextmanager
    def counting(self) -> Iterator[None]:
        """Processors made inside this block count their spans (unless the operator set the SDK's switch to
        false); the process environment is left as it was."""
        unset = _SDK_SELF_METRICS not in os.environ
        if unset:
            os.environ[_SDK_SELF_METRICS] = "true"
        try:
            yield
        finally:
            if unset:
                del os.environ[_SDK_SELF_METRICS]

    def spans_dropped(self) -> int:
        """Spans dropped since start: from a full queue, in a failed export, or unsent during a pause."""
        return self.queue_full() + sum(exporter.spans_dropped for exporter in self._exporters)

    def queue_full(self) -> int:
        """Spans dropped since start because a processor's queue was full."""
        data = self._reader.get_metrics_data()
        if data is None:
            return 0
        return sum(
            int(point.value)
            for resource_metrics in data.resource_metrics
            for scope_metrics in resource_metrics.scope_metrics
            for metric in scope_metrics.metrics
            if metric.name == PROCESSED_SPANS_METRIC
            for point in metric.data.data_points
            if isinstance(point, NumberDataPoint)
            and point.attributes is not None
            and point.attributes.get("error.type") == "queue_full"
        )

    def report(self) -> int:
        """Logs one warning if spans were dropped since the last report; returns how many."""
        total = self.spans_dropped()
        new, self._reported = total - self._reported, total
        if new > 0:
            logger.warning(
                "spans dropped: %d in the last period, %d since start, from a full export queue or a "
                "failed export (is the trace backend down or too slow?)",
                new,
                total,
            )
        return new

    def start(self, seconds: float = DROP_REPORT_SECONDS) -> None:
        """Reports every `seconds` on a background thread, in place of the SDK's per-span warning."""
        logging.getLogger(SDK_BATCH_LOGGER).setLevel(logging.ERROR)  # export errors still show

        def report_until_stopped() -> None:
            while not self._stop.wait(seconds):
                self.report()

        threading.Thread(target=report_until_stopped, name="telemetry-drop-reports", daemon=True).start()

    def stop(self) -> None:
        """Ends the reports, with one line a benchmark or an operator can read: the total never sent."""
        self._stop.set()
        logger.info("spans dropped since start (queue full or export failed): %d", self.spans_dropped())


def flush(provider: TracerProvider, drops: DropReporter | None, timeout_seconds: float) -> bool:
    """Exports every queued span, then stops the exporters; False when that did not finish in time."""
    # docs-region: shutdown
    # With the backend down, the exporter retries each batch for up to 10 s and the SDK would wait 30: longer
    # than a grace period. The flush runs on a thread of its own, waited for at most `timeout_seconds`; the
    # process then exits without what it could not send.
    flushing = threading.Thread(target=provider.shutdown, name="span-flush", daemon=True)
    flushing.start()
    flushing.join(timeout_seconds)
    if drops is not None:
        drops.stop()  # and logs how many spans this process never sent
    return not flushing.is_alive()
    # docs-endregion: shutdown
