"""The gateway's edge policy, and the demo's scenario check in front of it: what a caller's trace context and
baggage become, decided before tracing sees them."""

from __future__ import annotations

from typing import Any

import pytest
from opentelemetry import baggage
from opentelemetry.baggage.propagation import W3CBaggagePropagator

from gateway.edge import INBOUND_CONTEXT, EdgePolicy, TraceContextPolicy
from gateway.settings import GatewaySettings
from tracemesh_demo.gateway import DemoPage, GatewayDemoSettings
from tracemesh_demo.scenarios import Scenario, current_scenario, parse_scenario


def entries(header: str) -> dict[str, object]:
    return dict(baggage.get_all(W3CBaggagePropagator().extract({"baggage": header})))


async def _app(scope: Any, receive: Any, send: Any) -> None:
    raise AssertionError("not called")


def policy(*, enabled: bool) -> DemoPage:
    """The demo's check of the scenario a caller asks for (in front of the edge policy)."""
    return DemoPage(_app, GatewayDemoSettings(scenarios_enabled=enabled))


@pytest.mark.parametrize("name", [scenario.value for scenario in Scenario])
def test_a_known_scenario_is_kept_when_scenarios_are_enabled(name: str) -> None:
    kept = policy(enabled=True).filter_baggage(f"tracemesh.scenario={name},tenant=acme")
    assert entries(kept) == {"tracemesh.scenario": name, "tenant": "acme"}


@pytest.mark.parametrize(
    "header",
    ["tracemesh.scenario=drop-tables", "tracemesh.scenario=SLOW-QUERY", "tracemesh.scenario=slow-query%3B1"],
)
def test_an_unknown_scenario_is_dropped_and_the_rest_kept(header: str) -> None:
    assert entries(policy(enabled=True).filter_baggage(header + ",tenant=acme")) == {"tenant": "acme"}


def test_every_scenario_is_dropped_when_scenarios_are_disabled() -> None:
    assert policy(enabled=False).filter_baggage("tracemesh.scenario=slow-query") == ""
    # Keys are percent-decoded by the services' propagator, so the edge must judge them decoded too.
    assert policy(enabled=False).filter_baggage("tracemesh%2Escenario=slow-query") == ""
    assert policy(enabled=False).filter_baggage("%74racemesh.scenario=contention,a=1") == "a=1"


async def test_the_middleware_rewrites_the_baggage_headers() -> None:
    seen: list[list[tuple[bytes, bytes]]] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        seen.append(scope["headers"])

    edge = DemoPage(app, GatewayDemoSettings(scenarios_enabled=False))
    untouched = [(b"traceparent", b"00-x"), (b"accept", b"*/*")]
    await edge({"type": "http", "path": "/orders", "headers": untouched}, None, None)  # type: ignore[arg-type]
    assert seen[-1] is untouched  # without baggage, nothing is copied

    encoded = [(b"baggage", b"tracemesh%2Escenario=slow-query")]
    await edge({"type": "http", "path": "/orders", "headers": encoded}, None, None)  # type: ignore[arg-type]
    assert seen[-1] == []

    two_headers = [(b"baggage", b"tracemesh.scenario=contention"), (b"baggage", b"tenant=acme"), (b"a", b"b")]
    await edge({"type": "http", "path": "/orders", "headers": two_headers}, None, None)  # type: ignore[arg-type]
    assert seen[-1] == [(b"a", b"b"), (b"baggage", b"tenant=acme")]


def test_services_read_only_known_scenario_names() -> None:
    assert parse_scenario("n-plus-one") is Scenario.N_PLUS_ONE
    assert parse_scenario("nope") is None
    assert parse_scenario(None) is None
    assert current_scenario(baggage.set_baggage("tracemesh.scenario", "contention")) is Scenario.CONTENTION
    assert current_scenario() is None


CALLER = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


async def policed(edge_of: Any, headers: list[tuple[bytes, bytes]]) -> dict[str, Any]:
    """The scope the app behind `edge_of(app)` receives for a request with `headers`."""
    seen: list[dict[str, Any]] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        seen.append(scope)

    await edge_of(app)({"type": "http", "headers": headers}, None, None)
    return seen[0]


async def test_restart_removes_the_callers_trace_context_and_keeps_it_for_a_link() -> None:
    headers = [
        (b"traceparent", CALLER.encode()),
        (b"tracestate", b"vendor=1"),
        (b"x-trace-id", b"4bf92f3577b34da6a3ce929d0e0e4736"),
        (b"accept", b"*/*"),
    ]
    scope = await policed(
        lambda app: EdgePolicy(app, trace_context=TraceContextPolicy.RESTART),
        headers,
    )
    assert scope["headers"] == [(b"accept", b"*/*")]
    caller = scope[INBOUND_CONTEXT]
    assert (format(caller.trace_id, "032x"), format(caller.span_id, "016x")) == (
        "4bf92f3577b34da6a3ce929d0e0e4736",
        "00f067aa0ba902b7",
    )
    assert caller.trace_state.get("vendor") == "1"


async def test_restart_drops_a_malformed_traceparent_without_a_link() -> None:
    scope = await policed(
        lambda app: EdgePolicy(app, trace_context=TraceContextPolicy.RESTART),
        [(b"traceparent", b"00-zz-zz-01")],
    )
    assert scope["headers"] == []
    assert INBOUND_CONTEXT not in scope


async def test_trust_passes_the_callers_trace_context_unchanged() -> None:
    headers = [(b"traceparent", CALLER.encode()), (b"x-trace-id", b"4bf92f3577b34da6a3ce929d0e0e4736")]
    scope = await policed(lambda app: EdgePolicy(app), headers)
    assert scope["headers"] is headers
    assert INBOUND_CONTEXT not in scope


def test_the_baggage_allow_list_keeps_only_its_keys() -> None:
    edge = EdgePolicy(_app, baggage_keys={"tracemesh.synthetic", "tracemesh.scenario"})
    demo = policy(enabled=True)
    kept = edge.filter_baggage(
        demo.filter_baggage(
            "tracemesh.synthetic=true,tracemesh.tenant=acme,userId=alice,tracemesh.scenario=n-plus-one"
        )
    )
    assert entries(kept) == {"tracemesh.synthetic": "true", "tracemesh.scenario": "n-plus-one"}
    # An allowed key still needs a known scenario name.
    assert entries(edge.filter_baggage(demo.filter_baggage("tracemesh.scenario=nope"))) == {}
    assert EdgePolicy(_app, baggage_keys=set()).filter_baggage("a=1,b=2") == ""


def test_the_allow_list_setting_reads_a_comma_separated_list_or_a_star() -> None:
    assert GatewaySettings(inbound_baggage_keys="*").baggage_allow_list() is None
    assert GatewaySettings(inbound_baggage_keys=" a , b,").baggage_allow_list() == {"a", "b"}
    assert GatewaySettings(inbound_baggage_keys="").baggage_allow_list() == frozenset()
    assert (
        GatewaySettings(inbound_trace_context="restart").inbound_trace_context is TraceContextPolicy.RESTART
    )
