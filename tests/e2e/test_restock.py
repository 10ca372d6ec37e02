"""inventory's restock job: traces that no request started."""

from __future__ import annotations

import time

import httpx
import pytest

from tools.mesh.processes import Mesh
from tools.mesh.waterfall import ReceivedSpan


@pytest.fixture(scope="module")
def mesh_env() -> dict[str, str]:
    return {"INVENTORY_RESTOCK_INTERVAL_SECONDS": "0.5"}


def stock_of(mesh: Mesh, sku: str) -> int:
    products = httpx.get(f"{mesh.gateway_url}/products", timeout=10).json()
    return {product["sku"]: product["stock"] for product in products}[sku]


def restock_traces(mesh: Mesh) -> list[list[ReceivedSpan]]:
    roots = [span for span in mesh.store.all_spans() if span.name == "restock"]
    return [mesh.store.trace(root.trace_id) for root in roots]


def test_stock_sold_is_restocked_by_a_job_whose_runs_are_root_spans(mesh: Mesh) -> None:
    response = httpx.post(f"{mesh.gateway_url}/orders", json={"sku": "LAMP-9", "quantity": 3}, timeout=10)
    assert response.status_code == 201

    deadline = time.monotonic() + 15
    while stock_of(mesh, "LAMP-9") != 5 and time.monotonic() < deadline:
        time.sleep(0.2)
    assert stock_of(mesh, "LAMP-9") == 5  # back to its catalogue level

    traces = []
    while time.monotonic() < deadline:
        traces = [spans for spans in restock_traces(mesh) if any(s.name.startswith("UPDATE") for s in spans)]
        if traces:
            break
        time.sleep(0.2)
    assert traces, "no restock trace with its UPDATE arrived"
    spans = traces[0]
    (root,) = [span for span in spans if span.name == "restock"]
    # Started by the job, not by a request: no parent, kind INTERNAL, one service.
    assert root.parent_span_id is None
    assert (root.service, root.kind) == ("inventory", "INTERNAL")
    assert root.attributes["tracemesh.restock.units"] >= 3
    statements = [span for span in spans if "db.statement" in span.attributes]
    assert statements
    assert all(span.parent_span_id == root.span_id for span in statements)
    assert (
        {span.trace_id for span in spans}
        == {root.trace_id}
        != {response.headers["traceresponse"].split("-")[1]}
    )
    # A run with nothing to restock leaves no trace: four more runs go by without one.
    runs = len(restock_traces(mesh))
    time.sleep(2.5)
    assert len(restock_traces(mesh)) == runs
