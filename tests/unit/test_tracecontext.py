"""The W3C Trace Context test suite's cases against tracemesh's propagators, and against OpenTelemetry's.

A service is played here by the propagator and an SDK tracer, as the instrumentations use them: the context
is extracted from the request's headers through the ASGI getter (the FastAPI instrumentation's, one value per
header field), a SERVER span starts under it, and each downstream call is a CLIENT span whose context is
injected into that call's headers.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from opentelemetry.instrumentation.asgi import asgi_getter
from opentelemetry.propagators.textmap import Setter, TextMapPropagator
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.sampling import ALWAYS_ON, ParentBased
from opentelemetry.trace import SpanKind

from tests.tracecontext_suite import (
    SAMPLED,
    SPEC_CASES,
    STOCK_DEPARTURES,
    SUITE_CASES,
    Case,
    Outbound,
    Request,
    read_callback,
)
from tracemesh_common.propagation import DEFAULT_PROPAGATORS, load_propagators
from tracemesh_common.tracecontext import TRACESTATE_LONG_ENTRY, TRACESTATE_MAX_LENGTH

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


# Valid tracestate entries, short and long: distinct keys, values of 1 to 256 characters (their length drawn
# first, so that long values are as likely as short ones).
_VALUE_CHARACTERS = [chr(c) for c in range(0x21, 0x7F) if chr(c) not in ",="]
entries = st.lists(
    st.tuples(
        st.from_regex(r"[a-z][a-z0-9_\-*/]{0,15}", fullmatch=True),
        st.integers(1, 256).flatmap(lambda n: st.text(_VALUE_CHARACTERS, min_size=n, max_size=n)),
    ),
    max_size=32,
    unique_by=lambda entry: entry[0],
)


@settings(max_examples=100)
@given(sent=entries)
def test_tracestate_is_cut_to_512_characters_long_entries_first_then_from_the_end(
    sent: list[tuple[str, str]],
) -> None:
    header = ",".join(f"{key}={value}" for key, value in sent)
    (call,) = callbacks(
        load_propagators(DEFAULT_PROPAGATORS), Request((("traceparent", SAMPLED), ("tracestate", header)))
    )
    kept = list(call.tracestate.items())
    if len(header) <= TRACESTATE_MAX_LENGTH:
        assert kept == sent
        return
    assert len(call.tracestate_header()) <= TRACESTATE_MAX_LENGTH
    assert kept == [entry for entry in sent if entry in kept]  # what is kept keeps its order

    def short(entry: tuple[str, str]) -> bool:
        return len(entry[0]) + 1 + len(entry[1]) <= TRACESTATE_LONG_ENTRY

    if not all(short(entry) for entry in kept):
        assert [entry for entry in sent if short(entry)] == [entry for entry in kept if short(entry)]
    # Short entries go from the end: those kept are the first ones sent.
    kept_short = [entry for entry in kept if short(entry)]
    assert kept_short == [entry for entry in sent if short(entry)][: len(kept_short)]
