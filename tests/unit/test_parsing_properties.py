"""Property-based tests of the code that parses what callers send: whatever the input, a clean answer."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from opentelemetry import baggage, trace
from opentelemetry.baggage.propagation import W3CBaggagePropagator
from opentelemetry.context import Context
from pydantic import ValidationError

from gateway.edge import EdgePolicy
from gateway.schemas import OrderIn
from tracemesh_common.propagation import XTraceIdPropagator
from tracemesh_demo.gateway import DemoPage, GatewayDemoSettings
from tracemesh_demo.scenarios import SCENARIO_KEY, Scenario

# Header values as a server hands them over: any latin-1 text (HTTP bytes decoded), within a header's size.
header_text = st.text(alphabet=st.characters(max_codepoint=0xFF), max_size=600)
baggage_entry = st.tuples(
    st.sampled_from([SCENARIO_KEY, "tracemesh.synthetic", "tenant", "k%2Ey", "bad key"]),
    st.one_of(st.sampled_from([s.value for s in Scenario]), header_text),
).map(lambda pair: f"{pair[0]}={pair[1]}")


async def _app(scope: object, receive: object, send: object) -> None:
    raise AssertionError("not called")


@settings(max_examples=300)
@given(
    header=st.one_of(header_text, st.lists(baggage_entry, max_size=8).map(",".join)),
    enabled=st.booleans(),
    allow=st.one_of(st.none(), st.frozensets(st.sampled_from([SCENARIO_KEY, "tenant"]))),
)
def test_the_edge_passes_only_allowed_keys_and_known_scenarios(
    header: str, enabled: bool, allow: frozenset[str] | None
) -> None:
    # The demo's scenario check, then the edge policy's allow-list: the order a request meets them in.
    demo = DemoPage(_app, GatewayDemoSettings(scenarios_enabled=enabled))
    kept = EdgePolicy(_app, baggage_keys=allow).filter_baggage(demo.filter_baggage(header))
    entries = baggage.get_all(W3CBaggagePropagator().extract({"baggage": kept}, Context()))
    if allow is not None:
        assert set(entries) <= allow
    if SCENARIO_KEY in entries:
        assert enabled
        assert entries[SCENARIO_KEY] in {s.value for s in Scenario}


@settings(max_examples=300)
@given(value=header_text)
def test_x_trace_id_is_adopted_only_when_it_is_32_lowercase_hex(value: str) -> None:
    context = XTraceIdPropagator().extract({"x-trace-id": value}, Context())
    span_context = trace.get_current_span(context).get_span_context()
    if span_context.is_valid:
        assert re.fullmatch(r"[0-9a-f]{32}", value.strip())
        assert format(span_context.trace_id, "032x") == value.strip()


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | header_text,
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3)
    ),
    max_leaves=10,
)


@settings(max_examples=300)
@given(body=st.dictionaries(st.sampled_from(["sku", "quantity", "extra"]), json_values, max_size=3))
def test_an_order_body_is_valid_or_refused_with_a_validation_error(body: dict[str, object]) -> None:
    problems: list[object] = []
    try:
        order = OrderIn.model_validate(body)
    except ValidationError as error:
        problems = list(error.errors())  # each problem named, for the 422's `fields`
    else:
        assert re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}", order.sku)
        assert 1 <= order.quantity <= 1_000_000
        return
    assert problems


@pytest.mark.parametrize("value", ["4BF92F3577B34DA6A3CE929D0E0E4736", "0" * 32, "4bf92f35"])
def test_x_trace_id_examples_that_must_not_be_adopted(value: str) -> None:
    context = XTraceIdPropagator().extract({"x-trace-id": value}, Context())
    assert not trace.get_current_span(context).get_span_context().is_valid
