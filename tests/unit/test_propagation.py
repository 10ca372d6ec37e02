"""The X-Trace-ID propagator alone and inside the composite that OTEL_PROPAGATORS builds."""

from __future__ import annotations

import pytest
from opentelemetry import baggage, trace
from opentelemetry.context import Context
from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags

from tracemesh_common.propagation import DEFAULT_PROPAGATORS, XTraceIdPropagator, load_propagators

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
OTHER_TRACE_ID = "0af7651916cd43dd8448eb211c80319c"
TRACEPARENT = f"00-{OTHER_TRACE_ID}-b7ad6b7169203331-01"


def extracted(headers: dict[str, str], names: str = DEFAULT_PROPAGATORS) -> SpanContext:
    return trace.get_current_span(load_propagators(names).extract(headers)).get_span_context()


def test_adopts_a_valid_x_trace_id_as_a_sampled_remote_parent() -> None:
    context = extracted({"x-trace-id": TRACE_ID})
    assert context.is_valid
    assert format(context.trace_id, "032x") == TRACE_ID
    assert context.is_remote
    assert context.trace_flags.sampled
    assert context.span_id != 0


def test_each_adoption_invents_a_different_parent_span_id() -> None:
    assert extracted({"x-trace-id": TRACE_ID}).span_id != extracted({"x-trace-id": TRACE_ID}).span_id


@pytest.mark.parametrize(
    "value",
    [
        "",
        "0" * 32,
        TRACE_ID.upper(),
        TRACE_ID[:-1],
        TRACE_ID + "0",
        "zz" + TRACE_ID[2:],
        f"{TRACE_ID}\r\nx-evil: 1",
        "x" * 10_000,
    ],
    ids=["empty", "zeros", "uppercase", "short", "long", "not-hex", "control-chars", "huge"],
)
def test_ignores_garbage(value: str) -> None:
    assert not extracted({"x-trace-id": value}).is_valid


@pytest.mark.parametrize("names", [DEFAULT_PROPAGATORS, "xtraceid,tracecontext,baggage"])
def test_a_valid_traceparent_wins_whatever_the_order(names: str) -> None:
    context = extracted({"traceparent": TRACEPARENT, "x-trace-id": TRACE_ID}, names)
    assert format(context.trace_id, "032x") == OTHER_TRACE_ID
    assert format(context.span_id, "016x") == "b7ad6b7169203331"


def test_falls_back_to_x_trace_id_when_traceparent_is_malformed() -> None:
    context = extracted({"traceparent": "00-garbage-01", "x-trace-id": TRACE_ID})
    assert format(context.trace_id, "032x") == TRACE_ID


def test_injects_the_current_trace_id_next_to_traceparent() -> None:
    span = NonRecordingSpan(
        SpanContext(int(TRACE_ID, 16), 0x00F067AA0BA902B7, is_remote=False, trace_flags=TraceFlags(1))
    )
    carrier: dict[str, str] = {}
    load_propagators(DEFAULT_PROPAGATORS).inject(carrier, trace.set_span_in_context(span))
    assert carrier["x-trace-id"] == TRACE_ID
    assert carrier["traceparent"] == f"00-{TRACE_ID}-00f067aa0ba902b7-01"


def test_injects_nothing_without_a_span() -> None:
    carrier: dict[str, str] = {}
    XTraceIdPropagator().inject(carrier, Context())
    assert carrier == {}


def test_baggage_travels_through_the_default_composite() -> None:
    context = load_propagators(DEFAULT_PROPAGATORS).extract({"baggage": "tracemesh.scenario=slow-query"})
    assert baggage.get_baggage("tracemesh.scenario", context) == "slow-query"


def test_none_selects_no_propagator() -> None:
    propagator = load_propagators("none")
    assert propagator.fields == set()


def test_an_unknown_propagator_name_fails_at_start_up() -> None:
    with pytest.raises(ValueError, match="b3-typo"):
        load_propagators("tracecontext,b3-typo")


def test_the_entry_point_makes_xtraceid_nameable() -> None:
    assert XTraceIdPropagator.HEADER in load_propagators("xtraceid").fields
