"""What tracemesh's traces look like in Jaeger: the spans of an order, and what makes a trace whole."""

from __future__ import annotations

from collections import Counter

import httpx

from tests.e2e.jaeger.backend import JaegerSpan, JaegerTrace
from tools.mesh.processes import Mesh

CREATE_ORDER = "/tracemesh.orders.v1.OrderService/CreateOrder"

# Every span of one order, as (service, kind, name); a SQL statement by its verb, whatever the database
# names the span (`INSERT /path/orders.db` on SQLite, `INSERT` on PostgreSQL).
ORDER = Counter(
    {
        ("gateway", "server", "POST /orders"): 1,
        ("gateway", "client", CREATE_ORDER): 1,
        ("orders", "server", CREATE_ORDER): 1,
        ("orders", "sql", "INSERT"): 1,  # the order, pending
        ("orders", "client", "POST"): 1,  # the reservation, to inventory
        ("inventory", "server", "POST /reservations"): 1,
        ("inventory", "internal", "reserve stock"): 1,
        ("inventory", "sql", "UPDATE"): 1,  # the stock
        ("inventory", "sql", "INSERT"): 1,  # the reservation
        ("orders", "sql", "UPDATE"): 1,  # the order, confirmed
    }
)


# Where each of them hangs: its parent's (service, kind, name); the gateway's server span is the root.
ORDER_PARENTS = {
    ("gateway", "client", CREATE_ORDER): ("gateway", "server", "POST /orders"),
    ("orders", "server", CREATE_ORDER): ("gateway", "client", CREATE_ORDER),
    ("orders", "sql", "INSERT"): ("orders", "server", CREATE_ORDER),
    ("orders", "client", "POST"): ("orders", "server", CREATE_ORDER),
    ("inventory", "server", "POST /reservations"): ("orders", "client", "POST"),
    ("inventory", "internal", "reserve stock"): ("inventory", "server", "POST /reservations"),
    ("inventory", "sql", "UPDATE"): ("inventory", "internal", "reserve stock"),
    ("inventory", "sql", "INSERT"): ("inventory", "internal", "reserve stock"),
    ("orders", "sql", "UPDATE"): ("orders", "server", CREATE_ORDER),
}


def is_sql(span: JaegerSpan) -> bool:
    return "db.statement" in span.tags


def key(span: JaegerSpan) -> tuple[str, str, str]:
    if is_sql(span):
        return span.service, "sql", str(span.tags["db.statement"]).split()[0]
    return span.service, span.kind, span.name


def shape(trace: JaegerTrace) -> Counter[tuple[str, str, str]]:
    """The trace's spans by (service, kind, name), without the `connect` spans a new database connection
    adds to whichever request opens it."""
    return Counter(key(span) for span in trace.spans if span.name != "connect")


def is_whole_order(trace: JaegerTrace) -> bool:
    """Every span of an order has arrived (each service exports on its own schedule)."""
    return shape(trace) == ORDER


def assert_order_tree(trace: JaegerTrace) -> None:
    """Every span of an order, each under the parent it belongs under."""
    assert shape(trace) == ORDER
    assert_one_tree(trace, "POST /orders")
    spans = {span.span_id: span for span in trace.spans}
    parents = {
        key(span): key(spans[span.parent_id])
        for span in trace.spans
        if span.parent_id in spans and span.name != "connect"
    }
    assert parents == ORDER_PARENTS


def assert_one_tree(trace: JaegerTrace, root_name: str) -> JaegerSpan:
    """One root (the gateway's server span), every other span under a parent in the trace, and each SQL
    statement a leaf. Returns the root."""
    (root,) = trace.roots()
    assert (root.service, root.kind, root.name) == ("gateway", "server", root_name)
    for span in trace.spans:
        if is_sql(span):
            assert trace.children(span) == [], f"{span.name} has children"
    return root


def order(
    mesh: Mesh, headers: dict[str, str] | None = None, sku: str = "STICKER-3", quantity: int = 1
) -> tuple[httpx.Response, str]:
    """Places an order; returns the answer and its trace id, from the `traceresponse` header."""
    response = httpx.post(
        f"{mesh.gateway_url}/orders", json={"sku": sku, "quantity": quantity}, headers=headers, timeout=15
    )
    return response, response.headers["traceresponse"].split("-")[1]
