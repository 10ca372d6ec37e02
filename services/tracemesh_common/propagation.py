"""Propagators: the legacy X-Trace-ID header, and the composite built from OTEL_PROPAGATORS."""

from __future__ import annotations

import random
import re
from collections.abc import Iterable
from importlib.metadata import entry_points

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.propagators.composite import CompositePropagator
from opentelemetry.propagators.textmap import (
    CarrierT,
    Getter,
    Setter,
    TextMapPropagator,
    default_getter,
    default_setter,
)
from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags

# docs-region: default-propagators
# W3C first, read as its test suite expects (tracecontext.py); X-Trace-ID only fills in when a
# caller sent no valid traceparent.
DEFAULT_PROPAGATORS = "tracecontext-strict,baggage,xtraceid"
# docs-endregion: default-propagators

_TRACE_ID = re.compile(r"[0-9a-f]{32}")


class XTraceIdPropagator(TextMapPropagator):
    """Carries the trace id in a single `X-Trace-ID` header, for peers that predate W3C Trace Context.

    Inbound, the header is adopted only when no valid W3C context was extracted, whatever the order of
    the propagators; outbound, it is written next to `traceparent` so a legacy peer keeps the id.
    """

    # Lowercase: gRPC metadata keys must be, and HTTP header names are case-insensitive.
    HEADER = "x-trace-id"

    def extract(
        self,
        carrier: CarrierT,
        context: Context | None = None,
        getter: Getter[CarrierT] = default_getter,
    ) -> Context:
        # docs-region: xtraceid-extract
        if context is None:
            context = Context()
        if trace.get_current_span(context).get_span_context().is_valid:
            return context  # a valid traceparent always wins
        values = getter.get(carrier, self.HEADER)
        if not values:
            return context
        trace_id = values[0].strip()
        if not _TRACE_ID.fullmatch(trace_id) or int(trace_id, 16) == 0:
            return context  # garbage is ignored, never half-adopted
        span_context = SpanContext(
            trace_id=int(trace_id, 16),
            # The header names no parent span, but a valid context needs one: a random, non-zero id.
            span_id=random.getrandbits(64) or 1,
            is_remote=True,
            # The header carries no sampling decision. A parent-based sampler would drop an unsampled
            # remote parent's whole trace, so the legacy caller's trace is sampled.
            trace_flags=TraceFlags(TraceFlags.SAMPLED),
        )
        return trace.set_span_in_context(NonRecordingSpan(span_context), context)
        # docs-endregion: xtraceid-extract

    def inject(
        self,
        carrier: CarrierT,
        context: Context | None = None,
        setter: Setter[CarrierT] = default_setter,
    ) -> None:
        # docs-region: xtraceid-inject
        span_context = trace.get_current_span(context).get_span_context()
        if span_context.is_valid:
            setter.set(carrier, self.HEADER, format(span_context.trace_id, "032x"))
            # docs-endregion: xtraceid-inject

    @property
    def fields(self) -> set[str]:
        return {self.HEADER}


def load_propagators(names: str) -> TextMapPropagator:
    """Builds the composite named by a comma-separated OTEL_PROPAGATORS value ("none" for nothing).

    Names resolve through the `opentelemetry_propagator` entry points, as the SDK does, which is how
    "xtraceid" (declared in pyproject.toml) sits beside "tracecontext" and "baggage".
    """
    selected = [name.strip() for name in names.split(",") if name.strip() and name.strip() != "none"]
    return CompositePropagator(list(_load(selected)))


# docs-region: load-propagators
def _load(names: Iterable[str]) -> Iterable[TextMapPropagator]:
    for name in names:
        found = entry_points(group="opentelemetry_propagator", name=name)
        if not found:
            raise ValueError(f"OTEL_PROPAGATORS names an unknown propagator: {name!r}")
        propagator_class = next(iter(found)).load()
        yield propagator_class()
        # docs-endregion: load-propagators
