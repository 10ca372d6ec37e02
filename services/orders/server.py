"""Builds the orders gRPC server from its settings: database, inventory client, servicer, health."""

from __future__ import annotations

import asyncio
import logging
from contextlib import suppress
from datetime import timedelta

import grpc
import httpx
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection
from opentelemetry.context import Context

from orders.inventory_client import InventoryClient
from orders.repository import OrderRepository, create_engine, utcnow
from orders.service import OrderService
from orders.servicer import OrderServiceServicer
from orders.settings import OrdersSettings
from telemetry import Telemetry
from tracemesh.orders.v1 import orders_pb2, orders_pb2_grpc

SERVICE_NAME = orders_pb2.DESCRIPTOR.services_by_name["OrderService"].full_name

logger = logging.getLogger(__name__)


class OrdersServer:
    """The orders service as one object: `await start()` binds and serves, `await stop()` drains."""

    def __init__(self, settings: OrdersSettings, telemetry: Telemetry) -> None:
        self._settings = settings
        self._telemetry = telemetry
        self._engine = create_engine(settings.database_url)
        self._repository = OrderRepository(self._engine)
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
        self._service = OrderService(self._repository, self._inventory)
        self._health = health.aio.HealthServicer()
        self._server: grpc.aio.Server | None = None
        self._settling: asyncio.Task[None] | None = None
        self.port = 0

    async def start(self) -> int:
        """Creates the schema, then serves; returns the bound port (useful when settings.port is 0)."""
        # docs-region: orders-instrument-engine
        await self._repository.create_schema()
        # After the schema exists, so that start-up statements are not traced as requests.
        self._telemetry.instrument_engine(self._engine)
        # docs-endregion: orders-instrument-engine
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
        orders_pb2_grpc.add_OrderServiceServicer_to_server(OrderServiceServicer(self._service), server)
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
        if self._settings.settle_interval_seconds > 0:
            self._settling = asyncio.create_task(self._settle_forever())
        return self.port

    async def stop(self) -> None:
        """Says NOT_SERVING, drains (settings.drain_seconds), stops taking calls, lets in-flight ones finish
        within the grace period, then closes clients."""
        await self._health.enter_graceful_shutdown()
        if self._settings.drain_seconds > 0:
            await asyncio.sleep(self._settings.drain_seconds)
        if self._settling is not None:
            self._settling.cancel()
            with suppress(asyncio.CancelledError):
                await self._settling
        if self._server is not None:
            await self._server.stop(self._settings.shutdown_grace_seconds)
        await self._inventory.aclose()
        await self._engine.dispose()

    async def _settle_forever(self) -> None:
        """The settling sweep: runs beside the calls, in the same event loop, until the server stops. A run
        that settles something is a trace of its own, its root span started in an empty context (no
        request caused it); a run that finds nothing pending makes no trace."""
        tracer = self._telemetry.tracer("orders")
        interval = self._settings.settle_interval_seconds
        while True:
            await asyncio.sleep(interval)
            cutoff = utcnow() - timedelta(seconds=self._settings.settle_after_seconds)
            try:
                pending = await self._service.pending_to_settle(cutoff)
                if not pending:
                    continue
                with tracer.start_as_current_span("settle pending orders", context=Context()) as span:
                    settled = await self._service.settle_pending(pending)
                    span.set_attributes({f"tracemesh.orders.{status}": n for status, n in settled.items()})
                    logger.info("settled pending orders: %s", settled)
            except Exception:  # a failed run (a database down, say) must not end the sweep
                logger.exception("settling pending orders failed; trying again in %.0f s", interval)


def create_server(settings: OrdersSettings, telemetry: Telemetry) -> OrdersServer:
    return OrdersServer(settings, telemetry)
