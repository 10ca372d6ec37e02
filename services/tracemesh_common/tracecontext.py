"""W3C Trace Context as the W3C test suite expects it: OpenTelemetry's propagator, two rules stricter.

OpenTelemetry's `TraceContextTextMapPropagator` parses and writes the headers; this subclass changes only what
it extracts:

- Two `traceparent` fields name no single parent. The stock propagator continues the first one; the W3C test
  suite (`test_traceparent_duplicated`) expects the context to be ignored, so a new trace starts. Two fields
  reach the propagator as two values from the HTTP server's getter, or as one value with a comma when a proxy
  folded them (RFC 9110 section 5.3): a `traceparent` never contains one.
- `tracestate` is bounded at 512 characters, the length the specification asks every participant to pass on
  at least. The stock propagator passes on up to 8192 whole; this one drops whole entries past 512, in the
  specification's order: entries longer than 128 characters first, then from the end. (Past 8192 characters
  OpenTelemetry's own guard still drops the header whole.)

Everything else is OpenTelemetry's, and already what the suite expects: a duplicated `tracestate` key, more
than 32 entries or a key outside the suite's grammar discards the whole `tracestate`; an invalid `traceparent`
is ignored with its `tracestate`. That grammar (`tenant@vendor` keys) is older than the current
specification's, which allows `@` anywhere in a key of up to 256 characters; tracemesh keeps the suite's.
"""

from __future__ import annotations

from collections.abc import Sequence

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.propagators.textmap import CarrierT, Getter, default_getter
from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceState
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

# W3C Trace Context, "tracestate limits": propagate at least 512 characters of the combined header; to cut,
# remove whole entries, those longer than 128 characters first.
TRACESTATE_MAX_LENGTH = 512
TRACESTATE_LONG_ENTRY = 128


class StrictTraceContextPropagator(TraceContextTextMapPropagator):
    """`traceparent` and `tracestate`, extracted as the W3C test suite expects (see the module docstring)."""

    def extract(
        self,
        carrier: CarrierT,
        context: Context | None = None,
        getter: Getter[CarrierT] = default_getter,
    ) -> Context:
        if context is None:
            context = Context()
        # docs-region: strict-extract
        # The getter returns one value per header field (the HTTP server's); a proxy may have folded two
        # fields into one value, joined by a comma, which a traceparent never contains.
        fields = getter.get(carrier, self._TRACEPARENT_HEADER_NAME) or []
        if len(fields) > 1 or any("," in field for field in fields):
            return context  # two traceparents name no single parent: the trace starts here
        # docs-endregion: strict-extract
        extracted = super().extract(carrier, context, getter)
        parent = trace.get_current_span(extracted).get_span_context()
        if extracted is context or len(parent.trace_state.to_header()) <= TRACESTATE_MAX_LENGTH:
            return extracted
        # Too long to pass on whole: the same context, with whole entries of its tracestate removed.
        bounded = SpanContext(
            trace_id=parent.trace_id,
            span_id=parent.span_id,
            is_remote=True,
            trace_flags=parent.trace_flags,
            trace_state=truncate(parent.trace_state),
        )
        return trace.set_span_in_context(NonRecordingSpan(bounded), context)


def truncate(trace_state: TraceState, limit: int = TRACESTATE_MAX_LENGTH) -> TraceState:
    """Removes whole entries until the header fits in `limit` characters: the rightmost entry longer than
    TRACESTATE_LONG_ENTRY characters while there is one, then the rightmost entry."""
    entries = list(trace_state.items())
    while _length(entries) > limit:
        long = [
            index
            for index, (key, value) in enumerate(entries)
            if len(key) + 1 + len(value) > TRACESTATE_LONG_ENTRY
        ]
        del entries[long[-1] if long else -1]
    return TraceState(entries)


def _length(entries: Sequence[tuple[str, str]]) -> int:
    return sum(len(key) + 1 + len(value) for key, value in entries) + max(len(entries) - 1, 0)
