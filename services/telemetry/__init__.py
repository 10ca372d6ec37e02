"""Tracing for every tracemesh service: one provider per process and the calls that instrument its edges.

A service does, in its composition root:

    telemetry = setup_telemetry("orders", TelemetrySettings())
    ... telemetry.instrument_engine(engine), telemetry.grpc_server_interceptors() ...
    telemetry.shutdown()   # on the way out: flushes every queued span

With OTEL_SDK_DISABLED=true the same calls install nothing, so the untraced baseline runs the same code.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING, Any

from opentelemetry import propagate, trace
from opentelemetry.instrumentation.propagators import (
    TraceResponsePropagator,
    set_global_response_propagator,
)
from opentelemetry.metrics import NoOpMeterProvider
from opentelemetry.processor.baggage import BaggageSpanProcessor
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader, NumberDataPoint
from opentelemetry.sdk.resources import OTELResourceDetector, Resource
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter, SpanExporter

from telemetry.logs import configure_logging, inject_trace_ids
from telemetry.propagation import load_propagators
from telemetry.settings import TelemetrySettings

if TYPE_CHECKING:
    import httpx
    from fastapi import FastAPI
    from sqlalchemy.ext.asyncio import AsyncEngine

__all__ = [
    "Telemetry",
    "TelemetrySettings",
    "add_trace_response",
    "configure_logging",
    "current_trace_id",
    "setup_telemetry",
]

# docs-region: baggage-prefix
# Baggage entries under this prefix are copied onto every span (so Jaeger can search by them);
# anything else a caller sends in `baggage` travels on but is never recorded.
BAGGAGE_PREFIX = "tracemesh."
# docs-endregion: baggage-prefix
# Health checks run every few seconds and teach nothing: they get no spans. Searched in the URL rebuilt from
# the caller's Host header and the path: anchored at the end, so only a path ending so can match.
HEALTH_URLS = "/healthz$,/readyz$"
# How long shutdown waits for the last spans to be exported. With the graceful drain (10 s) it stays
# within the 30 s grace period that compose and Kubernetes give each service.
SHUTDOWN_FLUSH_SECONDS = 10.0
# The SDK's own counter of spans through a processor (semantic conventions for SDK self-observability).
PROCESSED_SPANS_METRIC = "otel.sdk.processor.span.processed"
# How often a service says how many spans it dropped, when it dropped any (Telemetry.report_drops).
DROP_REPORT_SECONDS = 10.0
# The batch processor's logger. It warns on every span dropped from a full queue; a filter lets one
# warning through per 20 s, but only after the record is built: with the backend down, about half of the
# SDK's drop path (5% of the gateway's CPU in py-spy). Telemetry.report_drops says it once a period.
SDK_BATCH_LOGGER = "opentelemetry.sdk._shared_internal"

logger = logging.getLogger(__name__)


@dataclass
class Telemetry:
    """A service's tracing: its TracerProvider, or None when tracing is off, and the instrumentation calls."""

    service_name: str
    tracer_provider: TracerProvider | None
    # Reads the batch processors' own counters (spans processed, and dropped because the queue was full).
    processor_metrics: InMemoryMetricReader | None = None
    _drops_reported: int = 0
    _stop_reports: threading.Event = field(default_factory=threading.Event)

    @property
    def enabled(self) -> bool:
        return self.tracer_provider is not None

    def tracer(self, name: str) -> trace.Tracer:
        """A tracer for hand-made spans (a no-op one when tracing is off)."""
        return trace.get_tracer(name, tracer_provider=self.tracer_provider or trace.NoOpTracerProvider())

    def instrument_fastapi(
        self,
        app: FastAPI,
        *,
        excluded_urls: Sequence[str] = (),
        server_request_hook: Callable[[trace.Span, dict[str, Any]], None] | None = None,
    ) -> None:
        """HTTP server spans: extracts the caller's context from the request headers. URLs matching one of
        the `excluded_urls` regular expressions (health checks always) get no span; `server_request_hook`
        is called with each server span as it starts, and the request's ASGI scope."""
        if not self.enabled:
            return
        from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor

        # docs-region: instrument-fastapi
        FastAPIInstrumentor.instrument_app(
            app,
            tracer_provider=self.tracer_provider,
            meter_provider=NoOpMeterProvider(),
            excluded_urls=",".join((HEALTH_URLS, *excluded_urls)),
            # One span per request, not three: the ASGI receive/send message spans add nothing a reader
            # of the trace needs and cost a measurable share of the request.
            exclude_spans=["receive", "send"],
            server_request_hook=server_request_hook,
        )
        # docs-endregion: instrument-fastapi

    # docs-region: template-instrument-httpx
    def instrument_httpx(self, client: httpx.AsyncClient) -> None:
        """HTTP client spans: injects the current context into each outbound request's headers."""
        if not self.enabled:
            return
        from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor

        HTTPXClientInstrumentor.instrument_client(
            client, tracer_provider=self.tracer_provider, meter_provider=NoOpMeterProvider()
        )
        # docs-endregion: template-instrument-httpx

    def instrument_engine(self, engine: AsyncEngine) -> None:
        """A CLIENT span per SQL statement, with db.system and db.statement (placeholders, never values)."""
        if not self.enabled:
            return
        from opentelemetry.instrumentation.sqlalchemy.engine import EngineTracer

        # docs-region: template-engine-tracer
        # SQLAlchemyInstrumentor().instrument(engine=...) takes effect once per process and also patches
        # Engine.connect globally, adding a "connect" span to every connection checkout. EngineTracer is
        # the object it attaches to the engine: used directly it traces this engine's statements only.
        tracer = self.tracer("opentelemetry.instrumentation.sqlalchemy")
        connections_usage = NoOpMeterProvider().get_meter(__name__).create_up_down_counter("unused")
        # The async engine runs its statements on the sync engine inside; that is where events fire.
        EngineTracer(tracer, engine.sync_engine, connections_usage)
        # docs-endregion: template-engine-tracer

    # docs-region: template-grpc-interceptors
    def grpc_server_interceptors(self) -> list[Any]:
        """gRPC server spans: extracts the caller's context from the request metadata."""
        if not self.enabled:
            return []
        from opentelemetry.instrumentation.grpc import aio_server_interceptor, filters

        # Health checks and server reflection (a tool such as grpcurl asking what the server offers) are
        # not calls worth a trace.
        untraced = filters.any_of(filters.health_check(), filters.service_prefix("grpc.reflection."))
        return [aio_server_interceptor(self.tracer_provider, filter_=filters.negate(untraced))]

    def grpc_client_interceptors(self) -> list[Any]:
        """gRPC client spans: injects the current context into each call's metadata."""
        if not self.enabled:
            return []
        from opentelemetry.instrumentation.grpc import aio_client_interceptors, filters

        return list(
            aio_client_interceptors(self.tracer_provider, filter_=filters.negate(filters.health_check()))
        )
        # docs-endregion: template-grpc-interceptors

    def spans_dropped(self) -> int:
        """Spans the batch processors dropped since start because their queue was full (the trace backend
        down or too slow): the SDK counts them in `otel.sdk.processor.span.processed` with
        error.type=queue_full)."""
        reader = self.processor_metrics
        data = reader.get_metrics_data() if reader is not None else None
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

    def report_drops(self) -> int:
        """Logs one warning if spans were dropped since the last report; returns how many."""
        total = self.spans_dropped()
        new, self._drops_reported = total - self._drops_reported, total
        if new > 0:
            logger.warning(
                "export queue full: %d spans dropped in the last period, %d since start "
                "(is the trace backend down or too slow?)",
                new,
                total,
            )
        return new

    def report_drops_every(self, seconds: float) -> None:
        """Starts a background thread that calls report_drops every `seconds` until shutdown."""

        def report() -> None:
            while not self._stop_reports.wait(seconds):
                self.report_drops()

        threading.Thread(target=report, name="telemetry-drop-reports", daemon=True).start()

    def shutdown(self, timeout_seconds: float = SHUTDOWN_FLUSH_SECONDS) -> bool:
        """Flushes every queued span to the exporter, then stops it. Call once, on the way out.

        Returns False when the flush did not finish within `timeout_seconds`: with the trace backend down,
        the exporter would retry each batch for up to ten seconds and the SDK would wait up to thirty,
        longer than an orchestrator's grace period. The process then exits without those spans.
        """
        # docs-region: shutdown
        provider = self.tracer_provider
        if provider is None:
            return True
        self._stop_reports.set()
        flushing = threading.Thread(target=provider.shutdown, name="telemetry-shutdown", daemon=True)
        flushing.start()
        flushing.join(timeout_seconds)
        # One line a benchmark or an operator can read: how many spans this process never sent.
        logger.info("spans dropped since start (export queue full): %d", self.spans_dropped())
        if flushing.is_alive():
            logger.warning("spans not exported within %.0f s of shutdown were dropped", timeout_seconds)
            return False
        return True
        # docs-endregion: shutdown


def setup_telemetry(
    service_name: str,
    settings: TelemetrySettings | None = None,
    *,
    span_processors: Sequence[SpanProcessor] | None = None,
    set_global: bool = True,
) -> Telemetry:
    """Builds the service's TracerProvider from the OTEL_* settings.

    `span_processors` replaces the exporters named by OTEL_TRACES_EXPORTER (tests pass an in-memory one);
    `set_global=False` neither registers the provider globally nor patches logging, so several services
    can share one test process (the propagators are always global: the instrumentations read them there).
    """
    settings = settings or TelemetrySettings()
    if settings.sdk_disabled:
        return Telemetry(service_name, None)

    # docs-region: set-propagators
    # W3C trace context and baggage, plus X-Trace-ID, unless OTEL_PROPAGATORS says otherwise.
    # The instrumentations inject and extract through this global propagator.
    propagate.set_global_textmap(load_propagators(settings.propagators))
    # docs-endregion: set-propagators

    # docs-region: provider-sampler-baggage
    # The sampler comes from OTEL_TRACES_SAMPLER (parent-based always-on by default).
    provider = TracerProvider(resource=build_resource(service_name))
    provider.add_span_processor(BaggageSpanProcessor(lambda key: key.startswith(BAGGAGE_PREFIX)))
    # docs-endregion: provider-sampler-baggage
    # docs-region: batch-processor
    processor_metrics = None
    if span_processors is None:
        # Batching keeps export off the request path: spans queue in memory (OTEL_BSP_* sizes them) and a
        # background thread sends them. When the queue is full the oldest queued span is dropped to make
        # room; nothing waits. The processors count what they drop (Telemetry.spans_dropped), and the
        # service says how many every 10 s while it happens (Telemetry.report_drops).
        processor_metrics = InMemoryMetricReader()
        meters = processor_meters(processor_metrics, provider.resource)
        span_processors = [
            BatchSpanProcessor(exporter, meter_provider=meters) for exporter in build_exporters(settings)
        ]
    for processor in span_processors:
        provider.add_span_processor(processor)

    if set_global:
        trace.set_tracer_provider(provider)
        inject_trace_ids()
    telemetry = Telemetry(service_name, provider, processor_metrics)
    if processor_metrics is not None:
        logging.getLogger(SDK_BATCH_LOGGER).setLevel(logging.ERROR)  # export errors still show
        telemetry.report_drops_every(DROP_REPORT_SECONDS)
    return telemetry
    # docs-endregion: batch-processor


def processor_meters(reader: InMemoryMetricReader, resource: Resource) -> MeterProvider:
    """Meters for the batch processors' own counters, read only in this process (on request: it costs
    one counter update per batch exported and per span dropped)."""
    # The SDK counts only when its self-observability switch is on (an operator may still turn it off).
    os.environ.setdefault("OTEL_PYTHON_SDK_INTERNAL_METRICS_ENABLED", "true")
    return MeterProvider(metric_readers=[reader], resource=resource)


def build_resource(service_name: str) -> Resource:
    """service.name, service.version and deployment.environment, each overridable by OTEL_SERVICE_NAME
    and OTEL_RESOURCE_ATTRIBUTES."""
    # docs-region: template-resource
    defaults = Resource.create(
        {
            "service.name": service_name,
            "service.version": _version(),
            "deployment.environment.name": "development",
        }
    )
    # Resource.create lets the attributes passed in win over the environment; merging the environment
    # again on top makes the standard variables win, as an operator expects.
    resource = defaults.merge(OTELResourceDetector().detect())
    # deployment.environment.name is the current semantic-convention name; many trace UIs still key on
    # the older deployment.environment, so it follows the new one unless set on its own.
    environment = resource.attributes["deployment.environment.name"]
    return Resource({"deployment.environment": environment}).merge(resource)
    # docs-endregion: template-resource


def build_exporters(settings: TelemetrySettings) -> list[SpanExporter]:
    """The exporters named by OTEL_TRACES_EXPORTER; each reads its own OTEL_EXPORTER_* endpoint settings."""
    # docs-region: template-exporters
    exporters: list[SpanExporter] = []
    for name in settings.exporter_names():
        if name == "otlp" and settings.exporter_otlp_protocol == "grpc" and settings.otlp_encoder == "fast":
            from telemetry.otlp import FastOTLPSpanExporter

            exporters.append(FastOTLPSpanExporter())
        elif name == "otlp" and settings.exporter_otlp_protocol == "grpc":
            from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

            exporters.append(OTLPSpanExporter())
        elif name == "otlp":
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import (
                OTLPSpanExporter as OTLPHttpSpanExporter,
            )

            exporters.append(OTLPHttpSpanExporter())
        elif name == "zipkin":
            from opentelemetry.exporter.zipkin.json import ZipkinExporter

            exporters.append(ZipkinExporter())
        elif name == "console":
            exporters.append(ConsoleSpanExporter())
    return exporters
    # docs-endregion: template-exporters


def _version() -> str:
    try:
        return version("tracemesh")
    except PackageNotFoundError:
        return "0.0.0"


def add_trace_response() -> None:
    """Makes HTTP server spans answer with a W3C `traceresponse` header carrying the trace id."""
    set_global_response_propagator(TraceResponsePropagator())


# docs-region: current-trace-id
def current_trace_id() -> str | None:
    """The current trace's id as 32 hex digits, for error bodies and the like; None outside any trace."""
    span_context = trace.get_current_span().get_span_context()
    return format(span_context.trace_id, "032x") if span_context.is_valid else None
    # docs-endregion: current-trace-id
