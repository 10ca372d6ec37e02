"""Services in this test process, on real ports, each with its own provider and resource, all exporting
to one in-memory exporter."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AsyncExitStack, contextmanager

import pytest

from gateway.app import create_app as create_gateway
from gateway.settings import GatewaySettings
from inventory.app import create_app as create_inventory
from inventory.settings import InventorySettings
from orders.server import OrdersServer, create_server
from orders.settings import OrdersSettings
from tests.support import LoopThread, migrate, serve_app
from tracemesh_common.lifecycle import running
from tracemesh_common.tracing import Telemetry

MakeTelemetry = Callable[[str], Telemetry]


@contextmanager
def running_orders(settings: OrdersSettings, telemetry: Telemetry) -> Iterator[str]:
    """orders' gRPC server on its own event loop thread, its database migrated first; yields its address."""
    migrate("orders", settings.database_url)
    loop = LoopThread()

    jobs = AsyncExitStack()

    async def start() -> OrdersServer:
        server = create_server(settings, telemetry)
        await server.start()
        await jobs.enter_async_context(running(server.jobs()))  # as lifecycle.run starts them
        return server

    server: OrdersServer = loop.run(start())
    try:
        yield f"127.0.0.1:{server.port}"
    finally:
        loop.run(jobs.aclose())
        loop.run(server.stop())
        loop.close()


@pytest.fixture
def inventory_url(database_url: str, make_telemetry: MakeTelemetry) -> Iterator[str]:
    migrate("inventory", database_url)
    app = create_inventory(InventorySettings(database_url=database_url), make_telemetry("inventory"))
    with serve_app(app) as url:
        yield url


@pytest.fixture
def orders_database_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    return f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('orders')}/orders.db"


@pytest.fixture
def orders_address(
    inventory_url: str, orders_database_url: str, make_telemetry: MakeTelemetry
) -> Iterator[str]:
    settings = OrdersSettings(port=0, database_url=orders_database_url, inventory_url=inventory_url)
    with running_orders(settings, make_telemetry("orders")) as address:
        yield address


@pytest.fixture
def gateway_url(orders_address: str, make_telemetry: MakeTelemetry) -> Iterator[str]:
    app = create_gateway(GatewaySettings(orders_address=orders_address), make_telemetry("gateway"))
    with serve_app(app) as url:
        yield url
