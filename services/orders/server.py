"""Builds the orders gRPC server from its settings: database, inventory client, servicer, health."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

import grpc
import httpx
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from orders.domain import StoreUnavailable
from orders.inventory_client import InventoryClient
from orders.repository import OrderRepository
from orders.service import OrderService
from orders.servicer import OrderServiceServicer
from orders.settings import OrdersSettings
from tracemesh.orders.v1 import orders_pb2, orders_pb2_grpc
from tracemesh_common.database import Database
from tracemesh_common.lifecycle import Job
from tracemesh_common.tracing import Telemetry

SERVICE_NAME = orders_pb2.DESCRIPTOR.services_by_name["OrderService"].full_name

logger = logging.getLogger(__name__)


class OrdersServer:
    """The orders service as one object: `await start()` binds and serves, `await stop()` drains."""

    def __init__(
        self,
        settings: OrdersSettings,
        telemetry: Telemetry,
        repository: Callable[[Database], OrderRepository] = OrderRepository,
    ) -> None:
        self._settings = settings
        self._telemetry = telemetry
        self.database = Database(
            settings.database_url, lambda: StoreUnavailable("orders database unavailable")
        )
        self._repository = repository(self.database)
        # docs-region: orders-httpx
        http = httpx.AsyncClient(
            base_url=settings.inventory_url, timeout=httpx.Timeout(settings.inventory_timeout_seconds)
        )
        telemetry.instrument_httpx(http)
        # docs-endregion: orders-httpx
        self._inventory = InventoryClient(
            http,
            attempts=settings.inventory_attempts,
            attempt_timeout_seconds=settings.inventory_timeout_seconds,
        )
        self.service = OrderService(self._repository, self._inventory, telemetry.tracer("orders"))
        self._health = health.aio.HealthServicer()
        self._server: grpc.aio.Server | None = None
        self.port = 0

    def jobs(self) -> list[Job]:
        """The settling sweep: orders still pending long after they were placed are finished by reserving
        again under their id (settings.settle_interval_seconds; 0 turns it off)."""
        return [
            Job(
                "settling pending orders",
                self._settings.settle_interval_seconds,
                lambda: self.service.settle(self._settings.settle_after_seconds),
            )
        ]

    async def start(self) -> None:
        """Serves; `port` is then the bound port (useful when settings.port is 0). The schema is there
        already: `python -m orders.migrate` runs first."""
        # docs-region: orders-instrument-database
        self._telemetry.instrument_database(self.database)
        # docs-endregion: orders-instrument-database
        # docs-region: template-grpc-server
        # Interceptors passed explicitly: every call on this server gets a SERVER span whose parent is
        # read from the incoming metadata. (Instrumenting grpc globally would miss servers made earlier.)
        server = grpc.aio.server(
            interceptors=self._telemetry.grpc_server_interceptors(),
            options=[
                # Refuse to share the port with a stale process instead of silently splitting the traffic.
                ("grpc.so_reuseport", 0),
                # gRPC keeps one long-lived connection per client: ending it every minute makes the gateway
                # reconnect, so a new orders replica behind a Kubernetes Service starts getting calls.
                ("grpc.max_connection_age_ms", 60_000),
                ("grpc.max_connection_age_grace_ms", 10_000),
            ],
        )
        # docs-endregion: template-grpc-server
        orders_pb2_grpc.add_OrderServiceServicer_to_server(OrderServiceServicer(self.service), server)
        health_pb2_grpc.add_HealthServicer_to_server(self._health, server)
        # Server reflection: grpcurl and other gRPC tools list the methods and build requests without the
        # .proto file.
        reflection.enable_server_reflection(
            (SERVICE_NAME, health.SERVICE_NAME, reflection.SERVICE_NAME), server
        )
        self.port = server.add_insecure_port(f"{self._settings.host}:{self._settings.port}")
        await server.start()
        self._server = server
        await self._health.set(SERVICE_NAME, health_pb2.HealthCheckResponse.SERVING)
        await self._health.set("", health_pb2.HealthCheckResponse.SERVING)
        logger.info("orders serving gRPC on %s:%d", self._settings.host, self.port)

    async def stop(self) -> None:
        """Says NOT_SERVING, drains (settings.drain_seconds), stops taking calls, lets in-flight ones finish
        within the grace period, then closes clients."""
        await self._health.enter_graceful_shutdown()
        if self._settings.drain_seconds > 0:
            await asyncio.sleep(self._settings.drain_seconds)
        if self._server is not None:
            await self._server.stop(self._settings.shutdown_grace_seconds)
        await self._inventory.aclose()
        await self.database.dispose()


def create_server(
    settings: OrdersSettings,
    telemetry: Telemetry,
    repository: Callable[[Database], OrderRepository] = OrderRepository,
) -> OrdersServer:
    """orders, ready to `start()`; `repository` makes its repository from the database (the demo's has
    flaws)."""
    return OrdersServer(settings, telemetry, repository)
