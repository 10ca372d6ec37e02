"""The template guide's worked example (examples/checkout) as a real process in front of a real mesh: a cart
is one trace from checkout's server span through gateway, orders and inventory to the SQL, asserted on the
spans received over OTLP/gRPC."""

from __future__ import annotations

import signal
import subprocess
from collections.abc import Iterator

import httpx
import pytest

from tests.support import start_beside
from tools.mesh.ports import answers, free_port
from tools.mesh.processes import Mesh
from tools.mesh.waterfall import ReceivedSpan

CART = {"items": [{"sku": "BOOK-001", "quantity": 1}, {"sku": "STICKER-3", "quantity": 2}]}


@pytest.fixture(scope="module")
def mesh(sqlite_mesh: Mesh) -> Mesh:
    return sqlite_mesh  # the subject is the shape of the trace, the same on any database


def start_checkout(mesh: Mesh, gateway_url: str, log_name: str) -> tuple[subprocess.Popen[bytes], str]:
    """`python -m checkout` exporting to the mesh's receiver, as the guide runs it beside `make run`."""
    port = free_port()
    # The mesh's own settings for its services (OTLP endpoint, export delay), minus the gateway's.
    env = {key: value for key, value in mesh.env["gateway"].items() if not key.startswith("GATEWAY_")}
    env |= {"CHECKOUT_PORT": str(port), "CHECKOUT_GATEWAY_URL": gateway_url}
    url = f"http://127.0.0.1:{port}"
    process = start_beside(mesh, "checkout", env, lambda: answers(f"{url}/healthz"), log_name)
    return process, url


def stop_checkout(process: subprocess.Popen[bytes]) -> int:
    process.send_signal(signal.SIGTERM)
    try:
        return process.wait(20)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
        raise


@pytest.fixture(scope="module")
def checkout(mesh: Mesh) -> Iterator[str]:
    """checkout in front of the mesh's gateway; yields its base URL."""
    process, url = start_checkout(mesh, mesh.gateway_url, "checkout")
    yield url
    # SIGTERM is a clean stop that flushes the last spans, as for every tracemesh service.
    assert stop_checkout(process) == 0


@pytest.fixture(scope="module")
def stranded_checkout(mesh: Mesh) -> Iterator[str]:
    """checkout pointed at a port where no gateway listens."""
    process, url = start_checkout(mesh, f"http://127.0.0.1:{free_port()}", "checkout-stranded")
    yield url
    assert stop_checkout(process) == 0


def traceresponse_id(response: httpx.Response) -> str:
    return response.headers["traceresponse"].split("-")[1]


def count(spans: list[ReceivedSpan], service: str, kind: str) -> int:
    return sum(1 for span in spans if (span.service, span.kind) == (service, kind))


def inventory_sql(spans: list[ReceivedSpan]) -> list[ReceivedSpan]:
    return [span for span in spans if span.service == "inventory" and "db.system" in span.attributes]


def services_up_to_root(span: ReceivedSpan, spans: list[ReceivedSpan]) -> list[str]:
    """The services a span's ancestry crosses, from the span up to the root, each named once per visit."""
    by_id = {s.span_id: s for s in spans}
    path = [span.service]
    current: ReceivedSpan | None = span
    while current is not None and current.parent_span_id is not None:
        current = by_id.get(current.parent_span_id)
        if current is not None and current.service != path[-1]:
            path.append(current.service)
    return path


def test_a_cart_is_one_trace_rooted_at_checkout_down_to_inventorys_database(
    mesh: Mesh, checkout: str
) -> None:
    response = httpx.post(f"{checkout}/checkout", json=CART, timeout=30)
    assert response.status_code == 201, response.text
    orders = response.json()["orders"]
    assert [(o["sku"], o["quantity"], o["status"]) for o in orders] == [
        ("BOOK-001", 1, "confirmed"),
        ("STICKER-3", 2, "confirmed"),
    ]
    trace_id = traceresponse_id(response)

    spans = mesh.trace(
        trace_id,
        lambda spans: (
            count(spans, "checkout", "SERVER") == 1
            and count(spans, "gateway", "SERVER") == 2
            and count(spans, "orders", "SERVER") == 2
            and count(spans, "inventory", "SERVER") == 2
            and sum(s.attributes["db.statement"].startswith("UPDATE") for s in inventory_sql(spans)) == 2
        ),
    )
    # docs-region: template-test
    # One trace: a single root, and every other span's parent is in it (no orphan, no second trace).
    (root,) = [span for span in spans if span.parent_span_id is None]
    assert (root.service, root.kind, root.name) == ("checkout", "SERVER", "POST /checkout")
    assert root.resource["service.name"] == "checkout"
    assert root.resource["deployment.environment.name"]
    ids = {span.span_id for span in spans}
    assert all(span.parent_span_id in ids for span in spans if span is not root)

    # One CLIENT span per item under checkout's server span, each the parent of one gateway server span.
    clients = [span for span in spans if (span.service, span.kind) == ("checkout", "CLIENT")]
    assert len(clients) == 2
    assert all(span.parent_span_id == root.span_id for span in clients)
    assert all(span.status == "UNSET" for span in clients)
    gateway_servers = [span for span in spans if (span.service, span.kind) == ("gateway", "SERVER")]
    assert {span.name for span in gateway_servers} == {"POST /orders"}
    assert sorted(span.parent_span_id or "" for span in gateway_servers) == sorted(s.span_id for s in clients)
    # docs-endregion: template-test

    # The trace reaches inventory's SQL, through every hop of the mesh.
    statements = inventory_sql(spans)
    assert statements
    for statement in statements:
        assert services_up_to_root(statement, spans) == ["inventory", "orders", "gateway", "checkout"]


def test_a_refused_item_ends_the_checkout_with_the_gateways_answer_and_the_orders_placed(
    mesh: Mesh, checkout: str
) -> None:
    cart = {"items": [{"sku": "MUG-042", "quantity": 1}, {"sku": "LAMP-9", "quantity": 1000}]}
    response = httpx.post(f"{checkout}/checkout", json=cart, timeout=30)
    assert response.status_code == 409
    error = response.json()["error"]
    trace_id = traceresponse_id(response)
    assert (error["code"], error["trace_id"]) == ("insufficient_stock", trace_id)
    (placed,) = error["placed"]
    # The order placed before the refusal stays placed, and the caller was told its id.
    assert httpx.get(f"{mesh.gateway_url}/orders/{placed}", timeout=10).json()["status"] == "confirmed"

    spans = mesh.trace(
        trace_id,
        lambda spans: count(spans, "checkout", "SERVER") == 1 and count(spans, "gateway", "SERVER") == 2,
    )
    clients = sorted(
        (span for span in spans if (span.service, span.kind) == ("checkout", "CLIENT")),
        key=lambda span: span.start_ns,
    )
    # The client that received the 409 is an ERROR; a refusal is not a failure of checkout itself.
    assert [span.status for span in clients] == ["UNSET", "ERROR"]
    (server,) = [span for span in spans if (span.service, span.kind) == ("checkout", "SERVER")]
    assert server.status == "UNSET"


def test_bad_input_is_refused_with_its_trace_before_any_order(mesh: Mesh, checkout: str) -> None:
    empty = httpx.post(f"{checkout}/checkout", json={"items": []}, timeout=10)
    assert empty.status_code == 422
    assert empty.json()["error"]["code"] == "invalid_request"
    assert [field["field"] for field in empty.json()["error"]["fields"]] == ["body.items"]
    assert empty.json()["error"]["trace_id"] == traceresponse_id(empty)

    invalid = httpx.post(
        f"{checkout}/checkout", json={"items": [{"sku": "BOOK-001", "quantity": 0}]}, timeout=10
    )
    assert invalid.status_code == 422
    assert [field["field"] for field in invalid.json()["error"]["fields"]] == ["body.items.0.quantity"]

    malformed = httpx.post(
        f"{checkout}/checkout",
        content=b'{"items": [',
        headers={"content-type": "application/json"},
        timeout=10,
    )
    assert malformed.status_code == 400
    assert malformed.json()["error"]["code"] == "malformed_json"

    # Nothing was sent to the gateway: the trace is checkout's server span alone.
    trace_id = traceresponse_id(invalid)
    spans = mesh.trace(trace_id, lambda spans: count(spans, "checkout", "SERVER") == 1)
    assert [(span.service, span.kind) for span in spans] == [("checkout", "SERVER")]


def test_the_gateway_unreachable_is_503_with_the_trace_and_an_error_span_where_it_failed(
    mesh: Mesh, stranded_checkout: str
) -> None:
    response = httpx.post(f"{stranded_checkout}/checkout", json=CART, timeout=30)
    assert response.status_code == 503
    error = response.json()["error"]
    trace_id = traceresponse_id(response)
    assert error == {
        "code": "unavailable",
        "message": error["message"],
        "trace_id": trace_id,
        "placed": [],
    }
    assert error["message"].startswith("gateway unreachable")

    spans = mesh.trace(
        trace_id,
        lambda spans: count(spans, "checkout", "SERVER") == 1 and count(spans, "checkout", "CLIENT") == 1,
    )
    (client,) = [span for span in spans if span.kind == "CLIENT"]
    (server,) = [span for span in spans if span.kind == "SERVER"]
    # The failed call is an ERROR with the exception recorded, under a server span that failed with it.
    assert client.status == "ERROR"
    assert "exception" in client.events
    assert client.parent_span_id == server.span_id
    assert server.status == "ERROR"
    assert {span.service for span in spans} == {"checkout"}
