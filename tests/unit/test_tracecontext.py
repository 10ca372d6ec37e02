"""The W3C Trace Context test suite's cases against tracemesh's propagators, and against OpenTelemetry's.

A service is played here by the propagator and an SDK tracer, as the instrumentations use them: the context
is extracted from the request's headers through the ASGI getter (the FastAPI instrumentation's, one value per
header field), a SERVER span starts under it, and each downstream call is a CLIENT span whose context is
injected into that call's headers.
"""

from __future__ import annotations

import pytest
from opentelemetry.instrumentation.asgi import asgi_getter
from opentelemetry.propagators.textmap import Setter, TextMapPropagator
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.sampling import ALWAYS_ON, ParentBased
from opentelemetry.trace import SpanKind, TraceState

from telemetry.propagation import DEFAULT_PROPAGATORS, load_propagators
from telemetry.tracecontext import TRACESTATE_MAX_LENGTH, truncate
from tests.tracecontext_suite import (
    SPEC_CASES,
    STOCK_DEPARTURES,
    SUITE_CASES,
    Case,
    Outbound,
    Request,
    read_callback,
)

# The default sampler, spelled out: a caller's decision is followed, a new trace is sampled.
TRACER = TracerProvider(sampler=ParentBased(ALWAYS_ON)).get_tracer(__name__)
# OpenTelemetry's W3C propagator in place of tracemesh's, the rest of the default list unchanged.
STOCK_PROPAGATORS = DEFAULT_PROPAGATORS.replace("tracecontext-strict", "tracecontext")
CASES = [pytest.param(case, id=case.name) for case in (*SUITE_CASES, *SPEC_CASES)]


class _Headers(Setter[list[tuple[str, str]]]):
    def set(self, carrier: list[tuple[str, str]], key: str, value: str) -> None:
        carrier.append((key, value))


def callbacks(propagator: TextMapPropagator, request: Request) -> list[Outbound]:
    """The trace context of each downstream call a service makes while it serves `request`."""
    scope = {"type": "http", "headers": [(name.encode(), value.encode()) for name, value in request.headers]}
    sent = []
    with TRACER.start_as_current_span(
        "server", context=propagator.extract(scope, getter=asgi_getter), kind=SpanKind.SERVER
    ):
        for _ in range(request.calls):
            with TRACER.start_as_current_span("call", kind=SpanKind.CLIENT):
                headers: list[tuple[str, str]] = []
                propagator.inject(headers, setter=_Headers())
                sent.append(read_callback(headers))
    return sent


def passes(propagator: TextMapPropagator, case: Case) -> None:
    case.check([callbacks(propagator, request) for request in case.requests])


@pytest.mark.parametrize("case", CASES)
def test_tracemesh_passes_every_case(case: Case) -> None:
    passes(load_propagators(DEFAULT_PROPAGATORS), case)


@pytest.mark.parametrize("case", CASES)
def test_opentelemetry_departs_from_the_suite_only_where_documented(case: Case) -> None:
    stock = load_propagators(STOCK_PROPAGATORS)
    if case.name not in STOCK_DEPARTURES:
        passes(stock, case)
        return
    _, failing_assertion = STOCK_DEPARTURES[case.name]
    with pytest.raises(AssertionError, match=failing_assertion):
        passes(stock, case)


def test_truncation_keeps_the_order_of_what_it_keeps() -> None:
    entries = [(f"k{n}", "v" * 100) for n in range(8)]
    kept = truncate(TraceState(entries))
    assert list(kept.items()) == entries[:4]
    assert len(kept.to_header()) <= TRACESTATE_MAX_LENGTH
