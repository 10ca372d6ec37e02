"""The gateway's edge policy: which scenario baggage a caller may send, decided before tracing sees it."""

from __future__ import annotations

from typing import Any

import pytest
from opentelemetry import baggage
from opentelemetry.baggage.propagation import W3CBaggagePropagator

from gateway.edge import EdgePolicy
from telemetry.scenarios import Scenario, current_scenario, parse_scenario


def entries(header: str) -> dict[str, object]:
    return dict(baggage.get_all(W3CBaggagePropagator().extract({"baggage": header})))


async def _app(scope: Any, receive: Any, send: Any) -> None:
    raise AssertionError("not called")


def policy(*, enabled: bool) -> EdgePolicy:
    return EdgePolicy(_app, scenarios_enabled=enabled)


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


async def test_the_middleware_rewrites_only_baggage_that_names_a_scenario() -> None:
    seen: list[list[tuple[bytes, bytes]]] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        seen.append(scope["headers"])

    edge = EdgePolicy(app, scenarios_enabled=False)
    untouched = [(b"baggage", b"tenant=acme"), (b"traceparent", b"00-x")]
    await edge({"type": "http", "headers": untouched}, None, None)  # type: ignore[arg-type]
    assert seen[-1] is untouched  # the common path copies nothing

    two_headers = [(b"baggage", b"tracemesh.scenario=contention"), (b"baggage", b"tenant=acme"), (b"a", b"b")]
    await edge({"type": "http", "headers": two_headers}, None, None)  # type: ignore[arg-type]
    assert seen[-1] == [(b"a", b"b"), (b"baggage", b"tenant=acme")]


def test_services_read_only_known_scenario_names() -> None:
    assert parse_scenario("n-plus-one") is Scenario.N_PLUS_ONE
    assert parse_scenario("nope") is None
    assert parse_scenario(None) is None
    assert current_scenario(baggage.set_baggage("tracemesh.scenario", "contention")) is Scenario.CONTENTION
    assert current_scenario() is None
