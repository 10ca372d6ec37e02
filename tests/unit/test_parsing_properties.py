"""Property-based tests of the code that parses what callers send: whatever the input, a clean answer."""

from __future__ import annotations

import re
from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from opentelemetry import baggage, trace
from opentelemetry.baggage.propagation import W3CBaggagePropagator
from opentelemetry.context import Context
from pydantic import ValidationError
from pydantic_core import ErrorDetails

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


# 32 lowercase hex digits, not all zero: what a legacy caller that means it sends.
trace_ids = st.from_regex(r"[0-9a-f]{32}", fullmatch=True).filter(lambda trace_id: int(trace_id, 16) != 0)
x_trace_id_values = st.one_of(
    # Adoptable: the id alone, or with the padding a server may leave on a header value.
    st.one_of(trace_ids, trace_ids.map(lambda trace_id: f" {trace_id}\t")),
    st.one_of(
        trace_ids.map(str.upper),
        st.just("0" * 32),
        # One character replaced, one dropped: a near miss must not be adopted.
        st.tuples(trace_ids, st.integers(0, 31), st.characters(max_codepoint=0xFF)).map(
            lambda t: t[0][: t[1]] + t[2] + t[0][t[1] + 1 :]
        ),
        st.tuples(trace_ids, st.integers(0, 31)).map(lambda t: t[0][: t[1]] + t[0][t[1] + 1 :]),
        # A valid id with junk after or before it: a parser that searches instead of matching the whole
        # value would take it.
        st.tuples(trace_ids, header_text.filter(bool)).map("".join),
        st.tuples(header_text.filter(bool), trace_ids).map("".join),
        header_text,
    ),
)


def adoptable(value: str) -> bool:
    """The rule, said once: after trimming, exactly 32 lowercase hex digits, and not all zero."""
    trimmed = value.strip()
    return re.fullmatch(r"[0-9a-f]{32}", trimmed) is not None and int(trimmed, 16) != 0


def test_x_trace_id_is_adopted_only_when_it_is_32_lowercase_hex() -> None:
    outcomes: Counter[bool] = Counter()

    @settings(max_examples=300)
    @given(value=x_trace_id_values)
    def adopted_exactly_when_valid(value: str) -> None:
        context = XTraceIdPropagator().extract({"x-trace-id": value}, Context())
        span_context = trace.get_current_span(context).get_span_context()
        outcomes[span_context.is_valid] += 1
        assert span_context.is_valid == adoptable(value), value
        if span_context.is_valid:
            assert re.fullmatch(r"[0-9a-f]{32}", value.strip())
            assert format(span_context.trace_id, "032x") == value.strip()
            # A remote parent that is sampled (the header carries no decision) with a span id of its own.
            assert span_context.is_remote
            assert span_context.trace_flags.sampled
            assert span_context.span_id != 0

    adopted_exactly_when_valid()
    # Both sides of the rule were exercised, not just the garbage.
    assert outcomes[True] >= 40, outcomes
    assert outcomes[False] >= 40, outcomes


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | header_text,
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3)
    ),
    max_leaves=10,
)


SKU = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
valid_skus = st.from_regex(SKU, fullmatch=True)
valid_quantities = st.integers(1, 1_000_000)
# Mostly wrong: a sku that misses the rule narrowly (a leading '.', '_' or '-'; 65 characters; a character
# not allowed) or any text or JSON value; a quantity out of range, or any JSON value.
other_skus = st.one_of(
    st.tuples(st.sampled_from("._-"), valid_skus).map("".join),
    valid_skus.map(lambda sku: sku + "x" * 64),
    st.tuples(valid_skus, st.characters(max_codepoint=0xFF).filter(lambda c: not SKU.fullmatch(f"a{c}"))).map(
        "".join
    ),
    header_text,
    json_values,
)
other_quantities = st.one_of(st.integers(max_value=0), st.integers(min_value=1_000_001), json_values)
order_bodies = st.one_of(
    st.fixed_dictionaries({"sku": valid_skus, "quantity": valid_quantities}),
    st.one_of(
        # A valid body with one thing changed: a field replaced or missing, or a field that is not allowed.
        st.fixed_dictionaries({"sku": other_skus, "quantity": valid_quantities}),
        st.fixed_dictionaries({"sku": valid_skus, "quantity": other_quantities}),
        st.fixed_dictionaries({"sku": valid_skus}),
        st.fixed_dictionaries({"quantity": valid_quantities}),
        st.fixed_dictionaries({"sku": valid_skus, "quantity": valid_quantities, "extra": json_values}),
        # Anything at all under the three names.
        st.dictionaries(st.sampled_from(["sku", "quantity", "extra"]), json_values, max_size=3),
    ),
)


def judged(body: dict[str, object]) -> tuple[set[str], set[str]]:
    """The fields of `body` that are certainly wrong, and those certainly right. A quantity given as a
    string, a bool or a whole float is neither: pydantic may coerce it, and the model's value is checked."""
    wrong, right = set(), set()
    sku = body.get("sku")
    (right if isinstance(sku, str) and SKU.fullmatch(sku) else wrong).add("sku")
    quantity = body.get("quantity")
    if type(quantity) is int:
        (right if 1 <= quantity <= 1_000_000 else wrong).add("quantity")
    elif (
        quantity is None
        or isinstance(quantity, list | dict)
        or (isinstance(quantity, float) and not quantity.is_integer())
    ):
        wrong.add("quantity")
    if "extra" in body:
        wrong.add("extra")
    return wrong, right


def test_an_order_body_is_valid_or_refused_with_a_validation_error() -> None:
    outcomes: Counter[str] = Counter()

    @settings(max_examples=500)
    @given(body=order_bodies)
    def valid_or_refused(body: dict[str, object]) -> None:
        wrong, right = judged(body)
        problems: list[ErrorDetails] = []
        try:
            order = OrderIn.model_validate(body)
        except ValidationError as error:
            problems = list(error.errors())  # each problem named, for the 422's `fields`
        else:
            outcomes["valid"] += 1
            assert not wrong, body
            assert re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}", order.sku)
            assert 1 <= order.quantity <= 1_000_000
            assert order.sku == body["sku"]
            if type(body["quantity"]) is int:
                assert order.quantity == body["quantity"]
            return
        outcomes["refused"] += 1
        assert problems
        # Each problem names the field it is about: every wrong field, and never a right one.
        named = {str(problem["loc"][0]) for problem in problems}
        assert wrong <= named, (body, named)
        assert not named & right, (body, named)

    valid_or_refused()
    assert outcomes["valid"] >= 40, outcomes
    assert outcomes["refused"] >= 40, outcomes


@pytest.mark.parametrize("value", ["4BF92F3577B34DA6A3CE929D0E0E4736", "0" * 32, "4bf92f35"])
def test_x_trace_id_examples_that_must_not_be_adopted(value: str) -> None:
    context = XTraceIdPropagator().extract({"x-trace-id": value}, Context())
    assert not trace.get_current_span(context).get_span_context().is_valid
