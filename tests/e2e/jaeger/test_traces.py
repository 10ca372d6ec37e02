"""Orders through the mesh, read back from a real Jaeger through its own query API, as its UI reads them."""

from __future__ import annotations

from devrun.mesh import Mesh
from tests.e2e.jaeger.backend import Jaeger
from tests.e2e.jaeger.shapes import ORDER, assert_one_tree, is_sql, is_whole_order, order, shape


def test_an_order_is_one_tree_of_three_services_with_the_sql_as_leaves(jaeger: Jaeger, mesh: Mesh) -> None:
    response, trace_id = order(mesh)
    assert response.status_code == 201

    trace = jaeger.wait_for(trace_id, is_whole_order)
    assert shape(trace) == ORDER
    root = assert_one_tree(trace, "POST /orders")
    assert root.tags["http.status_code"] == 201
    assert not any(span.error for span in trace.spans)
    # Service names come from each process's resource (OTEL_SERVICE_NAME), not from the spans.
    assert {process["serviceName"] for process in trace.processes.values()} == {
        "gateway",
        "orders",
        "inventory",
    }
    assert all(process["service.version"] for process in trace.processes.values())
    # The statements themselves, with placeholders and never a value.
    statements = {(span.service, str(span.tags["db.statement"])) for span in trace.spans if is_sql(span)}
    assert any(service == "orders" and sql.startswith("INSERT INTO orders") for service, sql in statements)
    assert any(service == "inventory" and sql.startswith("UPDATE products") for service, sql in statements)
    assert not any("STICKER-3" in sql for _, sql in statements)
