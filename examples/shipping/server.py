"""Builds the shipping gRPC server from its settings: database, servicer, health."""

from __future__ import annotations

import logging

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from shipping.domain import StoreUnavailable
from shipping.repository import ShipmentRepository
from shipping.service import ShippingService
from shipping.servicer import ShippingServiceServicer
from shipping.settings import ShippingSettings
from tracemesh.shipping.v1 import shipping_pb2, shipping_pb2_grpc
from tracemesh_common.database import Database
from tracemesh_common.tracing import Telemetry

SERVICE_NAME = shipping_pb2.DESCRIPTOR.services_by_name["ShippingService"].full_name

logger = logging.getLogger(__name__)


class ShippingServer:
    """The shipping service as one object: `await start()` binds and serves, `await stop()` drains."""

    def __init__(self, settings: ShippingSettings, telemetry: Telemetry) -> None:
        self._settings = settings
        self._telemetry = telemetry
        # docs-region: shipping-database
        # The service's own error for "the database is unreachable": UNAVAILABLE to the caller.
        self.database = Database(
            settings.database_url, lambda: StoreUnavailable("shipping database unavailable")
        )
        self.service = ShippingService(ShipmentRepository(self.database))
        # docs-endregion: shipping-database
        self._health = health.aio.HealthServicer()
        self._server: grpc.aio.Server | None = None
        self.port = 0

    async def start(self) -> None:
        """Serves; `port` is then the bound port (useful when settings.port is 0). The schema is there
        already: `python -m shipping.migrate` runs first."""
        # docs-region: shipping-start
        # Statement spans from here on; the migrations ran in a process of their own, untraced.
        self._telemetry.instrument_database(self.database)
        # A SERVER span per call, its parent read from the caller's metadata.
        server = grpc.aio.server(
            interceptors=self._telemetry.grpc_server_interceptors(),
            options=[("grpc.so_reuseport", 0), ("grpc.max_connection_age_ms", 60_000)],
        )
        shipping_pb2_grpc.add_ShippingServiceServicer_to_server(ShippingServiceServicer(self.service), server)
        # The standard health service, for Kubernetes' gRPC probe and `python -m shipping.healthcheck`.
        health_pb2_grpc.add_HealthServicer_to_server(self._health, server)
        # docs-endregion: shipping-start
        self.port = server.add_insecure_port(f"{self._settings.host}:{self._settings.port}")
        await server.start()
        self._server = server
        for name in (SERVICE_NAME, ""):
            await self._health.set(name, health_pb2.HealthCheckResponse.SERVING)
        logger.info("shipping serving gRPC on %s:%d", self._settings.host, self.port)

    async def stop(self) -> None:
        """Stops taking calls, lets in-flight ones finish within the grace period, then closes the engine."""
        await self._health.enter_graceful_shutdown()
        if self._server is not None:
            await self._server.stop(self._settings.shutdown_grace_seconds)
        await self.database.dispose()


def create_server(settings: ShippingSettings, telemetry: Telemetry) -> ShippingServer:
    """shipping, ready to `start()`."""
    return ShippingServer(settings, telemetry)
