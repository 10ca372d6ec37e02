"""The demo's scenarios are off unless the gateway enables them: a caller's scenario never reaches a span."""

from __future__ import annotations

from devrun.mesh import Mesh
from tests.e2e.test_one_trace import CALLER_SPAN_ID, new_trace_id, place_order, services


def test_scenario_baggage_is_dropped_by_a_gateway_with_scenarios_disabled(mesh: Mesh) -> None:
    trace_id = new_trace_id()
    headers = {
        "traceparent": f"00-{trace_id}-{CALLER_SPAN_ID}-01",
        "baggage": "tracemesh.scenario=slow-query",
    }
    assert place_order(mesh, headers).status_code == 201
    spans = mesh.trace(
        trace_id,
        lambda spans: (
            any(s.attributes.get("db.statement", "").startswith("UPDATE products") for s in spans)
            and services(spans) == {"gateway", "orders", "inventory"}
        ),
    )
    assert all("tracemesh.scenario" not in span.attributes for span in spans)
    assert all("WITH RECURSIVE" not in span.attributes.get("db.statement", "") for span in spans)
