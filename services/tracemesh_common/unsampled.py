"""The fast path for requests the sampler leaves out: decided once where a request enters a service.

Every instrumentation builds its span name, attributes and context before the SDK asks the sampler, so a
request that is not sampled used to cost nearly what a sampled one costs. Here the decision comes first:

- Where a request enters (the HTTP server, the gRPC server), the caller's headers are extracted once through
  the service's propagators and the provider's own sampler is asked, with the trace id the span would get:
  the caller's, or for a root a new one from the provider's id generator.
- Sampled: the request goes to the OpenTelemetry instrumentations untouched. A sampled root keeps the trace id
  the decision was made on (`DecidedTraceIds`), so a ratio sampler asked again gives the same answer.
- Not sampled: the request runs in a context that holds only a non-recording span (its trace id, a new span
  id, flags without the sampled bit, the tracestate) and the caller's baggage, with instrumentation
  suppressed: every contrib instrumentation checks that flag first and steps aside, so no span, name or
  attribute is built on this service's edges and no SQL hook runs. Log lines still get the trace id, the
  HTTP response still gets `traceresponse`, and calls to other services still carry `traceparent`,
  `tracestate` and `baggage`: injected here, since the suppressed client instrumentation does not.

What it does not skip: a span made by hand inside a handler is still started (non-recording, as the sampler
says), and a request that no edge decided for (a job, a streaming call the instrumentation filters out) goes
through the instrumentations as before. The decision assumes that a span's children follow its sampling
decision, which holds for every sampler OpenTelemetry's SDK ships (the parent-based ones, always on/off, and
trace-id ratio, which gives the same answer for the same trace id).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from opentelemetry import context, propagate, trace
from opentelemetry.context import Context
from opentelemetry.instrumentation.propagators import get_global_response_propagator
from opentelemetry.instrumentation.utils import suppress_instrumentation
from opentelemetry.propagators.textmap import CarrierT, Getter, Setter
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.id_generator import RandomIdGenerator
from opentelemetry.sdk.trace.sampling import Decision
from opentelemetry.trace import NonRecordingSpan, SpanContext, SpanKind, TraceFlags

if TYPE_CHECKING:
    import httpx
    from opentelemetry.util.http import ExcludeList
    from starlette.types import ASGIApp, Message, Receive, Scope, Send

# Marks the context of a request the sampler left out (read by the httpx hook and SplitChannel).
_UNSAMPLED = context.create_key("tracemesh.unsampled")
# The trace id a sampled root was decided on, for the root span the instrumentation starts. A context
# variable of its own: the instrumentation replaces the OpenTelemetry context with the one it extracts.
_decided_trace_id: ContextVar[list[int] | None] = ContextVar("tracemesh_decided_trace_id", default=None)


class DecidedTraceIds(RandomIdGenerator):
    """Random ids, except for the root span of a request sampled at its entry: it takes the trace id the
    decision was made on, once. Without it the instrumentation would draw a second trace id and a ratio
    sampler would decide again: a ratio r would keep r * r of the traces."""

    def generate_trace_id(self) -> int:
        decided = _decided_trace_id.get()
        if decided:
            return decided.pop()  # one use: a later root in the same context gets an id of its own
        return super().generate_trace_id()


@dataclass(frozen=True)
class Decided:
    """A request's sampling decision, where it entered: the context of an unsampled request (the fast
    path), or the trace id of a sampled root (the instrumentation's path, with that trace id)."""

    unsampled: Context | None = None
    root_trace_id: int = 0

    @contextmanager
    def entered(self) -> Iterator[None]:
        """Runs the block as decided; an unsampled request with every instrumentation suppressed."""
        if self.unsampled is None:
            held = _decided_trace_id.set([self.root_trace_id])
            try:
                yield
            finally:
                _decided_trace_id.reset(held)
            return
        token = context.attach(self.unsampled)
        try:
            with suppress_instrumentation():
                yield
        finally:
            context.detach(token)


class Decider:
    """Takes a request's sampling decision where it enters a service, with the provider's sampler."""

    def __init__(self, provider: TracerProvider) -> None:
        self._sampler = provider.sampler
        self._ids = provider.id_generator
        # A root is decided here only if its span will take the same trace id; otherwise roots go to the
        # instrumentation as before, and only an unsampled caller's requests take the fast path.
        self._roots = isinstance(self._ids, DecidedTraceIds)

    def decide(
        self, carrier: CarrierT, getter: Getter[CarrierT], name: str, kind: SpanKind
    ) -> Decided | None:
        """The request's decision, or None to leave the request to the instrumentation as it is. `name` is
        what the sampler sees as the span's name."""
        parent = propagate.extract(carrier, Context(), getter)
        parent_span = trace.get_current_span(parent).get_span_context()
        if parent_span.is_valid:
            trace_id = parent_span.trace_id
            random_id = parent_span.trace_flags.random_trace_id
        elif self._roots:
            trace_id = self._ids.generate_trace_id()
            random_id = self._ids.is_trace_id_random()
        else:
            return None
        # docs-region: fast-path-decision
        result = self._sampler.should_sample(parent, trace_id, name, kind)
        if result.decision is not Decision.DROP:  # RECORD_ONLY records, and so stays traced
            if parent_span.is_valid:
                return None  # the instrumentation extracts the same parent and decides the same
            return Decided(root_trace_id=trace_id)
        # Flags as the SDK would set them on a span it drops: not sampled, random if the trace id is.
        flags = TraceFlags(TraceFlags.RANDOM_TRACE_ID if random_id else TraceFlags.DEFAULT)
        span_context = SpanContext(trace_id, self._ids.generate_span_id(), False, flags, result.trace_state)
        # The caller's baggage stays in `parent`; the span replaces the caller's as the current one.
        unsampled = trace.set_span_in_context(NonRecordingSpan(span_context), parent)
        return Decided(unsampled=context.set_value(_UNSAMPLED, True, unsampled))
        # docs-endregion: fast-path-decision


def is_unsampled() -> bool:
    """True inside a request the sampler left out."""
    return context.get_value(_UNSAMPLED) is True


def injected_headers() -> dict[str, str]:
    carrier: dict[str, str] = {}
    propagate.inject(carrier)  # traceparent, tracestate, baggage (and x-trace-id): the service's propagators
    return carrier


# --- HTTP server (ASGI) -------------------------------------------------------------------------------


class AsgiEntry:
    """ASGI middleware in front of the instrumented app: decides each request, and answers an unsampled one
    with `traceresponse` itself (the instrumentation that would have has stepped aside)."""

    def __init__(self, app: ASGIApp, decider: Decider, excluded_urls: ExcludeList | None = None) -> None:
        # The ASGI instrumentation's own header reader and writer, and its URL for the excluded list.
        from opentelemetry.instrumentation.asgi import asgi_getter, asgi_setter, get_host_port_url_tuple

        self._app = app
        self._decider = decider
        self._excluded = excluded_urls
        self._getter: Getter[Any] = asgi_getter
        self._setter: Setter[Any] = asgi_setter
        self._url: Callable[[Scope], tuple[str, int, str]] = get_host_port_url_tuple

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or (
            # Excluded from tracing (health checks): left to the instrumentation, which skips them.
            self._excluded is not None and self._excluded.url_disabled(self._url(scope)[2])
        ):
            await self._app(scope, receive, send)
            return
        decided = self._decider.decide(scope, self._getter, scope.get("method", "HTTP"), SpanKind.SERVER)
        if decided is None:
            await self._app(scope, receive, send)
            return
        if decided.unsampled is None:
            with decided.entered():
                await self._app(scope, receive, send)
            return
        respond, answered = get_global_response_propagator(), decided.unsampled

        async def send_with_traceresponse(message: Message) -> None:
            if respond is not None and message["type"] == "http.response.start":
                respond.inject(message, context=answered, setter=self._setter)
            await send(message)

        with decided.entered():
            await self._app(scope, receive, send_with_traceresponse)


def put_in_front(app: Any, decider: Decider, excluded_urls: ExcludeList | None = None) -> None:
    """Puts `AsgiEntry` in front of a Starlette/FastAPI app's middleware stack, instrumentation included.
    The app is changed in place, as FastAPIInstrumentor changes it: its stack is built on the first request,
    so middleware added later still lands inside."""
    build_instrumented = app.build_middleware_stack

    def build_middleware_stack() -> ASGIApp:
        return AsgiEntry(build_instrumented(), decider, excluded_urls)

    app.build_middleware_stack = build_middleware_stack


# --- HTTP client (httpx) ------------------------------------------------------------------------------


async def inject_unsampled(request: httpx.Request) -> None:
    """httpx request hook: an unsampled request's context goes into the headers (the suppressed
    instrumentation writes them for a sampled one)."""
    if is_unsampled():
        request.headers.update(injected_headers())
