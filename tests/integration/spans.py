"""Reading finished in-memory spans the way the assertions need them."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind


def by_kind(spans: Sequence[ReadableSpan], kind: SpanKind) -> list[ReadableSpan]:
    return [span for span in spans if span.kind == kind]


def service_of(span: ReadableSpan) -> str:
    return str(span.resource.attributes["service.name"])


def db_spans(spans: Sequence[ReadableSpan]) -> list[ReadableSpan]:
    return [span for span in spans if span.attributes and "db.system" in span.attributes]


def children_of(parent: ReadableSpan, spans: Sequence[ReadableSpan]) -> list[ReadableSpan]:
    return [
        span for span in spans if span.parent is not None and span.parent.span_id == parent.context.span_id
    ]


def one(spans: Sequence[ReadableSpan]) -> ReadableSpan:
    assert len(spans) == 1, [span.name for span in spans]
    return spans[0]


def wait_for(
    exporter: InMemorySpanExporter, until: Callable[[Sequence[ReadableSpan]], bool], timeout: float = 5.0
) -> tuple[ReadableSpan, ...]:
    """The finished spans once `until` holds. A server span may end a moment after its caller has the
    answer (the response is on the wire before the interceptor's span closes)."""
    deadline = time.monotonic() + timeout
    while True:
        spans = exporter.get_finished_spans()
        if until(spans) or time.monotonic() > deadline:
            return tuple(spans)
        time.sleep(0.01)


def named(name: str) -> Callable[[Sequence[ReadableSpan]], bool]:
    return lambda spans: any(span.name == name for span in spans)


def only_the_trace_of(exporter: InMemorySpanExporter, server_span_name: str) -> tuple[ReadableSpan, ...]:
    """Waits for the server span named `server_span_name`, then returns every finished span, asserting
    they all belong to its trace. Used after untraced calls: a span those calls made would have ended
    before this later request's spans, so it would be caught here."""
    spans = wait_for(exporter, named(server_span_name))
    marker = next(span for span in spans if span.name == server_span_name and span.kind == SpanKind.SERVER)
    strays = [span.name for span in spans if span.context.trace_id != marker.context.trace_id]
    assert strays == [], f"spans outside the marker request's trace: {strays}"
    return spans
