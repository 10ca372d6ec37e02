"""The template guide's backend example (examples/shipping) behind a real mesh: orders, changed as the guide
changes it in a fork (on a copy of the tree), books each confirmed order's shipment in shipping over gRPC.
One order is one trace from the gateway down to shipping's SQL, asserted on the spans received over
OTLP/gRPC, on SQLite and on PostgreSQL."""

from __future__ import annotations

import asyncio
import dataclasses
import io
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path

import grpc
import httpx
import pytest
from alembic.script import ScriptDirectory
from grpc_health.v1 import health_pb2, health_pb2_grpc
from rich.console import Console
from sqlalchemy import text

from tests.fork import forked_tree, python_path
from tests.support import require_postgres, start_beside
from tools.docscheck import shape
from tools.mesh.databases import mesh_databases, postgres_database
from tools.mesh.ports import free_port
from tools.mesh.processes import Mesh, start_mesh
from tools.mesh.waterfall import ReceivedSpan, render_trace
from tracemesh.shipping.v1 import shipping_pb2, shipping_pb2_grpc
from tracemesh_common.database import create_engine
from tracemesh_common.migrations import config

ROOT = Path(__file__).resolve().parents[2]
BOOK = "/tracemesh.shipping.v1.ShippingService/BookShipment"
CREATE = "/tracemesh.orders.v1.OrderService/CreateOrder"
# The waterfall the guide shows, right below this comment in both languages.
GUIDE_TRACE = "<!-- trace: tests/e2e/test_example_backend.py -->"


@dataclasses.dataclass
class Backend:
    """The mesh running the fork's orders, and shipping beside it."""

    mesh: Mesh
    shipping: subprocess.Popen[bytes]
    shipping_address: str
    shipping_db: str
    directory: Path

    def stop_shipping(self) -> int:
        if self.shipping.poll() is None:
            self.shipping.send_signal(signal.SIGTERM)
        return self.shipping.wait(20)


@pytest.fixture(scope="module")
def fork(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return forked_tree(tmp_path_factory.mktemp("fork"))


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def backend(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, fork: Path
) -> Iterator[Backend]:
    directory = tmp_path_factory.mktemp(f"backend-{request.param}")
    shipping_database: AbstractContextManager[str]
    if request.param == "postgres":
        require_postgres()
        shipping_database = postgres_database("e2e_shipping")
    else:
        shipping_database = nullcontext(f"sqlite+aiosqlite:///{directory}/shipping.db")
    port = free_port()
    with mesh_databases(request.param, directory, "e2e") as databases, shipping_database as shipping_db:
        # Every service of the mesh imports the fork's packages: orders with the guide's changes.
        settings = {"PYTHONPATH": python_path(fork), "ORDERS_SHIPPING_ADDRESS": f"127.0.0.1:{port}"}
        mesh = start_mesh(directory, *databases, settings)
        try:
            shipping = start_shipping(mesh, port, shipping_db)
        except BaseException:
            mesh.stop_all_now()
            raise
        started = Backend(mesh, shipping, f"127.0.0.1:{port}", shipping_db, directory)
        yield started
        code = started.stop_shipping()
        mesh.stop_all()
        assert code == 0  # SIGTERM: drained, flushed, exited cleanly


def start_shipping(mesh: Mesh, port: int, database_url: str) -> subprocess.Popen[bytes]:
    """`python -m shipping.migrate`, then `python -m shipping`, exporting to the mesh's receiver as the
    mesh's services do (and importing the fork's packages, as they do)."""
    env = {key: value for key, value in mesh.env["orders"].items() if not key.startswith("ORDERS_")}
    env |= {"SHIPPING_PORT": str(port), "SHIPPING_DATABASE_URL": database_url}
    migrated = subprocess.run(
        [sys.executable, "-m", "shipping.migrate"], env=env, capture_output=True, text=True, check=False
    )
    assert migrated.returncode == 0, migrated.stdout + migrated.stderr
    return start_beside(mesh, "shipping", env, lambda: serving(f"127.0.0.1:{port}"))


def serving(address: str) -> bool:
    try:
        with grpc.insecure_channel(address) as channel:
            answer = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=1)
    except grpc.RpcError:
        return False
    return bool(answer.status == health_pb2.HealthCheckResponse.SERVING)


def place_order(backend: Backend, sku: str = "BOOK-001") -> tuple[str, str]:
    """POST /orders through the gateway; returns the order id and the trace id."""
    response = httpx.post(f"{backend.mesh.gateway_url}/orders", json={"sku": sku, "quantity": 1}, timeout=30)
    assert response.status_code == 201, response.text
    assert response.json()["status"] == "confirmed"
    return response.json()["id"], response.headers["traceresponse"].split("-")[1]


def spans_of(spans: list[ReceivedSpan], service: str, kind: str | None = None) -> list[ReceivedSpan]:
    return [span for span in spans if span.service == service and kind in (None, span.kind)]


def sql(spans: list[ReceivedSpan], service: str) -> list[ReceivedSpan]:
    return [span for span in spans_of(spans, service) if "db.system" in span.attributes]


def test_an_order_is_one_trace_from_the_gateway_through_orders_to_shippings_database(
    backend: Backend,
) -> None:
    order_id, trace_id = place_order(backend)
    spans = backend.mesh.trace(
        trace_id,
        lambda spans: (
            len(spans_of(spans, "shipping", "SERVER")) == 1
            and len(sql(spans, "shipping")) >= 1
            and len(spans_of(spans, "orders", "SERVER")) == 1
            and len(sql(spans, "orders")) == 2
            # inventory exports on its own schedule: its server span, the reservation and its two statements.
            and len(spans_of(spans, "inventory")) == 4
            # The gateway's spans end last, once orders has answered: the trace is whole when they are in.
            and len(spans_of(spans, "gateway")) == 2
        ),
    )
    # docs-region: backend-test
    # One trace: the gateway's server span is its only root, and no span's parent is missing.
    (root,) = [span for span in spans if span.parent_span_id is None]
    assert (root.service, root.kind) == ("gateway", "SERVER")
    assert all(span.parent_span_id in {s.span_id for s in spans} for span in spans if span is not root)

    # orders' CLIENT span for the call is a child of its own server span, after the order was confirmed.
    (orders_server,) = spans_of(spans, "orders", "SERVER")
    (client,) = [span for span in spans_of(spans, "orders", "CLIENT") if span.name == BOOK]
    assert client.parent_span_id == orders_server.span_id
    (confirm,) = [span for span in sql(spans, "orders") if span.name.startswith("UPDATE")]
    assert client.start_ns >= confirm.end_ns

    # shipping's SERVER span continues the trace under that client span, and names its own process.
    (server,) = spans_of(spans, "shipping", "SERVER")
    assert (server.name, server.parent_span_id, server.status) == (BOOK, client.span_id, "UNSET")
    assert server.resource["service.name"] == "shipping"

    # shipping's SQL spans are leaves under its server span: the row written, with placeholders.
    statements = sql(spans, "shipping")
    assert all(span.parent_span_id == server.span_id for span in statements)
    assert not [span for span in spans if span.parent_span_id in {s.span_id for s in statements}]
    assert [span.attributes["db.statement"].split()[:3] for span in statements] == [
        ["INSERT", "INTO", "shipments"]
    ]
    # docs-endregion: backend-test
    assert orders_server.name == CREATE
    assert order_id not in statements[0].attributes["db.statement"]  # values are never recorded

    # The shipment is there, for the order that was placed.
    with grpc.insecure_channel(backend.shipping_address) as channel:
        shipment = shipping_pb2_grpc.ShippingServiceStub(channel).GetShipment(
            shipping_pb2.GetShipmentRequest(order_id=order_id), timeout=5
        )
    assert (shipment.order_id, shipment.sku, shipment.quantity) == (order_id, "BOOK-001", 1)
    check_the_guides_waterfall(spans, backend.directory)


def test_shippings_database_was_migrated_before_it_started(backend: Backend) -> None:
    """The schema is the newest revision of shipping's history: `python -m shipping.migrate` wrote it."""

    async def revision() -> str | None:
        engine = create_engine(backend.shipping_db)
        try:
            async with engine.connect() as connection:
                found: str | None = await connection.scalar(text("SELECT version_num FROM alembic_version"))
                return found
        finally:
            await engine.dispose()

    assert asyncio.run(revision()) == ScriptDirectory.from_config(config("shipping")).get_current_head()


def test_an_unknown_shipment_is_not_found_and_a_bad_booking_is_refused(backend: Backend) -> None:
    with grpc.insecure_channel(backend.shipping_address) as channel:
        stub = shipping_pb2_grpc.ShippingServiceStub(channel)
        with pytest.raises(grpc.RpcError) as missing:
            stub.GetShipment(shipping_pb2.GetShipmentRequest(order_id="no-such-order"), timeout=5)
        with pytest.raises(grpc.RpcError) as invalid:
            stub.BookShipment(shipping_pb2.BookShipmentRequest(order_id="o-1", sku="BOOK-001"), timeout=5)
    assert missing.value.code() == grpc.StatusCode.NOT_FOUND
    assert (invalid.value.code(), invalid.value.details()) == (
        grpc.StatusCode.INVALID_ARGUMENT,
        "quantity must be at least 1",
    )


def test_with_shipping_down_the_order_stands_and_the_failed_call_is_an_error(backend: Backend) -> None:
    """Last in this module: it stops shipping."""
    assert backend.stop_shipping() == 0
    order_id, trace_id = place_order(backend, sku="MUG-042")
    spans = backend.mesh.trace(
        trace_id,
        lambda spans: (
            any(s.name == BOOK for s in spans)
            and len(spans_of(spans, "orders", "SERVER")) == 1
            and len(spans_of(spans, "gateway")) == 2
        ),
    )
    (client,) = [span for span in spans if span.name == BOOK]
    (orders_server,) = spans_of(spans, "orders", "SERVER")
    # The call failed where it was made; orders answered all the same, the order confirmed.
    assert (client.kind, client.status, client.parent_span_id) == ("CLIENT", "ERROR", orders_server.span_id)
    assert orders_server.status == "UNSET"
    assert spans_of(spans, "shipping") == []
    assert f"order {order_id} confirmed, its shipment not booked" in backend.mesh.log("orders")


@pytest.mark.timeout(300)
def test_the_forks_orders_passes_make_lints_checks(fork: Path) -> None:
    """The patch is code a fork keeps: ruff and mypy --strict (the fork's own pyproject.toml) accept it."""
    bin_ = Path(sys.executable).parent
    for command in (
        [bin_ / "ruff", "check", "services/orders"],
        [bin_ / "ruff", "format", "--check", "services/orders"],
        [bin_ / "mypy", "--cache-dir", str(fork / ".mypy_cache"), "services/orders"],
    ):
        done = subprocess.run(command, cwd=fork, capture_output=True, text=True, check=False)
        assert done.returncode == 0, done.stdout + done.stderr


def check_the_guides_waterfall(spans: list[ReceivedSpan], directory: Path) -> None:
    """The trace the guide shows has the shape of this one, drawn by make run's waterfall (SQLite files named
    as make run names them, under var/)."""
    named = [dataclasses.replace(span, name=span.name.replace(f"{directory}/", "var/")) for span in spans]
    if not any(span.name.endswith("var/shipping.db") for span in named):
        return  # on PostgreSQL the statement spans are named by their verb alone: the guide shows SQLite
    console = Console(width=150, file=io.StringIO(), record=True, color_system=None)
    console.print(render_trace(named))
    drawn = console.export_text().splitlines()
    for page in ("docs/template.md", "docs/template.zh.md"):
        shown = guide_trace(ROOT / page)
        assert shape.matches(shown, drawn), f"{page}:\n{shape.explain(shown, drawn)}"


def guide_trace(page: Path) -> list[str]:
    """The lines of the text block right below GUIDE_TRACE on a page."""
    found = re.search(re.escape(GUIDE_TRACE) + r"\n```text\n(.*?)\n```\n", page.read_text(), re.DOTALL)
    assert found is not None, f"{page} shows no trace below {GUIDE_TRACE}"
    return found[1].splitlines()
