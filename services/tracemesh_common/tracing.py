"""A service's whole tracing set-up: provider, exporter, propagators, and the instrumentation of each layer.
`setup_telemetry("orders")` once per process, `instrument_*` on each edge, `shutdown()` on the way out; with
OTEL_SDK_DISABLED=true the same calls install nothing, so the untraced baseline runs the same code."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from opentelemetry import propagate, trace
from opentelemetry.instrumentation.propagators import TraceResponsePropagator, set_global_response_propagator
from opentelemetry.metrics import NoOpMeterProvider
from opentelemetry.processor.baggage import BaggageSpanProcessor
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import ConsoleSpanExporter, SpanExporter

from tracemesh_common.drops import DropReporter, flush
from tracemesh_common.logs import inject_trace_ids
from tracemesh_common.propagation import load_propagators
from tracemesh_common.settings import TelemetrySettings, resource_for
from tracemesh_common.unsampled import DecidedTraceIds, Decider, inject_unsampled, put_in_front

if TYPE_CHECKING:
    import grpc
    import httpx
    from fastapi import FastAPI

    from tracemesh_common.database import Database

# docs-region: baggage-prefix
# Baggage entries under this prefix are copied onto every span (so Jaeger can search by them);
# anything else a caller sends in `baggage` travels on but is never recorded.
BAGGAGE_PREFIX = "tracemesh."
# docs-endregion: baggage-prefix
HEALTH_URLS = "/healthz$,/readyz$"  # no spans: anchored, as the Host header is part of what is matched
SHUTDOWN_FLUSH_SECONDS = 10.0  # with the 10 s drain, within a 30 s grace period
NO_METERS = NoOpMeterProvider()  # the instrumentations record metrics too; tracemesh exports traces only
# docs-region: grpc-filter
# gRPC calls not worth a trace: health checks (readiness probes) and server reflection (a tool such as
# grpcurl asking what a server offers).
UNTRACED_GRPC = ("/grpc.health.v1.Health/", "/grpc.reflection.")


def traced_grpc_call(details: Any) -> bool:
    """The gRPC instrumentation's filter, on either side. The contrib's ready-made filters say the same, but
    each first checks the details against a typing.Protocol: about 27 µs a call on Python 3.11."""
    method = details.method
    if isinstance(method, bytes):  # the client's call details may carry bytes (grpc/grpc#31092)
        method = method.decode()
    return not method.startswith(UNTRACED_GRPC)
    # docs-endregion: grpc-filter


@dataclass
class Telemetry:
    """A service's TracerProvider (None when tracing is off) and the calls that instrument its edges."""

    service_name: str
    tracer_provider: TracerProvider | None
    drops: DropReporter | None = None

    def tracer(self, name: str) -> trace.Tracer:  # for hand-made spans (a no-op one when tracing is off)
        return trace.get_tracer(name, tracer_provider=self.tracer_provider or trace.NoOpTracerProvider())

    def instrument_fastapi(
        self,
        app: FastAPI,
        server_request_hook: Callable[[trace.Span, dict[str, Any]], None] | None = None,
    ) -> None:
        """HTTP server spans, the caller's context extracted from the request headers; a request the sampler
        leaves out skips the instrumentation (unsampled.py)."""
        from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor
        from opentelemetry.util.http import parse_excluded_urls

        # docs-region: instrument-fastapi
        if self.tracer_provider is not None:
            FastAPIInstrumentor.instrument_app(
                app,
                tracer_provider=self.tracer_provider,
                meter_provider=NO_METERS,
                excluded_urls=HEALTH_URLS,
                # One span per request, not three: ASGI's receive/send spans teach nothing and cost CPU.
                exclude_spans=["receive", "send"],
                server_request_hook=server_request_hook,
            )
            # In front of it all: each request's sampling decision, taken once from its headers.
            put_in_front(app, Decider(self.tracer_provider), parse_excluded_urls(HEALTH_URLS))
        # docs-endregion: instrument-fastapi

    # docs-region: template-instrument-httpx
    def instrument_httpx(self, client: httpx.AsyncClient) -> None:
        """HTTP client spans, the current context injected into each outbound request's headers."""
        from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor

        if self.tracer_provider is not None:
            HTTPXClientInstrumentor.instrument_client(client, self.tracer_provider, NO_METERS)
            # An unsampled request makes no client span, but its context still goes into the headers.
            client.event_hooks = {
                **client.event_hooks,
                "request": [*client.event_hooks["request"], inject_unsampled],
            }
        # docs-endregion: template-instrument-httpx

    def instrument_database(self, database: Database) -> None:
        """A CLIENT span per SQL statement, with db.system and db.statement (placeholders, never values); a
        session in a request the sampler left out goes through an engine without it (database.py)."""
        from opentelemetry.instrumentation.sqlalchemy.engine import EngineTracer

        # docs-region: template-engine-tracer
        # SQLAlchemyInstrumentor().instrument(engine=...) works once per process and patches Engine.connect
        # globally (a "connect" span per checkout). EngineTracer, what it attaches to an engine, traces
        # this engine only: the database's traced engine, which its sessions use unless instrumentation is
        # suppressed. The async engine's events fire on its sync engine.
        if self.tracer_provider is not None:
            tracer = self.tracer("opentelemetry.instrumentation.sqlalchemy")
            engine = database.traced_engine.sync_engine
            EngineTracer(tracer, engine, NO_METERS.get_meter("").create_up_down_counter("-"))
        # docs-endregion: template-engine-tracer

    # docs-region: template-grpc-interceptors
    def grpc_server_interceptors(self) -> list[Any]:
        """gRPC server spans, the caller's context extracted from the request metadata; a call the sampler
        leaves out skips the instrumentation (unsampled.py)."""
        from opentelemetry.instrumentation.grpc import aio_server_interceptor

        from tracemesh_common.unsampled_grpc import GrpcEntry

        if self.tracer_provider is None:
            return []
        # The contrib interceptor behind the sampling decision: a call the sampler left out never reaches it.
        instrumentation = aio_server_interceptor(self.tracer_provider)
        return [GrpcEntry(Decider(self.tracer_provider), instrumentation, traced_grpc_call)]

    def grpc_channel(self, address: str) -> grpc.aio.Channel:
        """An insecure gRPC channel to `address`: a CLIENT span per call, the current context injected into
        each call's metadata; a call in a request the sampler left out skips the instrumentation, on a second
        channel without interceptors (unsampled_grpc.py)."""
        import grpc
        from opentelemetry.instrumentation.grpc import aio_client_interceptors

        from tracemesh_common.unsampled_grpc import SplitChannel

        if self.tracer_provider is None:
            return grpc.aio.insecure_channel(address)
        interceptors = aio_client_interceptors(self.tracer_provider, filter_=traced_grpc_call)
        traced = grpc.aio.insecure_channel(address, interceptors=interceptors)
        return SplitChannel(traced, grpc.aio.insecure_channel(address))
        # docs-endregion: template-grpc-interceptors

    def shutdown(self, timeout_seconds: float = SHUTDOWN_FLUSH_SECONDS) -> bool:
        """Flushes every queued span, once, on the way out; False if that took too long (backend down)."""
        return self.tracer_provider is None or flush(self.tracer_provider, self.drops, timeout_seconds)


def setup_telemetry(
    service_name: str,
    settings: TelemetrySettings | None = None,
    span_processors: Sequence[SpanProcessor] | None = None,
    set_global: bool = True,
) -> Telemetry:
    """The service's TracerProvider, from OTEL_*. Tests pass `span_processors` (in place of the exporters) and
    `set_global=False` (several services in one process)."""
    settings = settings or TelemetrySettings()
    if settings.sdk_disabled:
        return Telemetry(service_name, None)
    # docs-region: set-propagators
    # W3C trace context and baggage, plus X-Trace-ID, unless OTEL_PROPAGATORS says otherwise. The
    # instrumentations inject and extract through this global propagator; HTTP servers answer with
    # `traceresponse` (the trace's id) through the global response propagator.
    propagate.set_global_textmap(load_propagators(settings.propagators))
    set_global_response_propagator(TraceResponsePropagator())
    # docs-endregion: set-propagators
    # docs-region: provider-sampler-baggage
    # The sampler comes from OTEL_TRACES_SAMPLER (parent-based always-on by default). DecidedTraceIds: a
    # request sampled where it enters keeps the trace id it was decided on (unsampled.py).
    provider = TracerProvider(resource=resource_for(service_name), id_generator=DecidedTraceIds())
    provider.add_span_processor(BaggageSpanProcessor(lambda key: key.startswith(BAGGAGE_PREFIX)))
    # docs-endregion: provider-sampler-baggage
    # docs-region: batch-processor
    drops = None
    if span_processors is None:
        # Export stays off the request path: spans queue in memory (OTEL_BSP_* sizes it), a background
        # thread sends them, and a full queue drops its oldest span (counted and reported by drops.py).
        drops = DropReporter(provider.resource)
        span_processors = drops.batch_processors(exporters(settings))
    for processor in span_processors:
        provider.add_span_processor(processor)
    # docs-endregion: batch-processor
    if set_global:
        trace.set_tracer_provider(provider)
        inject_trace_ids()
    return Telemetry(service_name, provider, drops)


def exporters(settings: TelemetrySettings) -> list[SpanExporter]:
    # docs-region: template-exporters
    # OTEL_TRACES_EXPORTER names them; each reads its own OTEL_EXPORTER_* settings (endpoint, headers...).
    chosen: list[SpanExporter] = []
    for name in settings.exporter_names():
        if name == "otlp" and settings.exporter_otlp_protocol == "grpc" and settings.otlp_encoder == "fast":
            from tracemesh_common.fast_otlp import FastOTLPSpanExporter  # the opt-in: same bytes, less CPU

            chosen.append(FastOTLPSpanExporter())
        elif name == "otlp" and settings.exporter_otlp_protocol == "grpc":
            from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

            chosen.append(OTLPSpanExporter())
        elif name == "otlp":  # http/protobuf
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as OverHttp

            chosen.append(OverHttp())
        elif name == "zipkin":
            from opentelemetry.exporter.zipkin.json import ZipkinExporter

            chosen.append(ZipkinExporter())
        elif name == "console":
            chosen.append(ConsoleSpanExporter())
    return chosen
    # docs-endregion: template-exporters
