"""gateway's app: its routes, one error shape, tracing, all inside the edge policy."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from starlette.types import ASGIApp

from gateway.edge import EdgePolicy, link_inbound_context
from gateway.errors import GatewayError
from gateway.orders_client import OrdersClient
from gateway.routes import router
from gateway.settings import GatewaySettings
from tracemesh_common.errors import add_error_handlers, error_responses
from tracemesh_common.tracing import Telemetry


def create_app(
    settings: GatewaySettings, telemetry: Telemetry, orders: OrdersClient | None = None
) -> ASGIApp:
    """The gateway, ready to serve: the FastAPI app inside the edge policy. Without `orders` (tests may pass
    their own), it connects to settings.orders_address on start-up and closes the channel on shutdown."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # The gRPC channel belongs to the running event loop, so it is made here, not at import time.
        # docs-region: template-grpc-client
        # The channel makes a CLIENT span per call and writes its context into the call's metadata
        # (traceparent, baggage, x-trace-id), where orders' server interceptor picks it up.
        client = orders or OrdersClient(
            telemetry.grpc_channel(settings.orders_address), timeout_seconds=settings.orders_timeout_seconds
        )
        # docs-endregion: template-grpc-client
        app.state.orders = client
        yield
        if orders is None:
            await client.close()

    # FastAPI's built-in telemetry stays off: spans come from the contrib instrumentation below, the
    # same package on every service (and two layers would give each request two server spans).
    app = FastAPI(
        title="tracemesh gateway",
        version="1.0",
        description="Orders over HTTP. Every traced response names its trace in the `traceresponse` header.",
        lifespan=lifespan,
        responses=error_responses(400, 404, 409, 422, 502, 503),
        telemetry={"tracing": False, "metrics": False, "logs": False, "auto_configure": False},
    )
    app.include_router(router)
    add_error_handlers(app, {GatewayError: 500})  # each of its errors carries its status
    # docs-region: gateway-instrument
    # Every traced response carries `traceresponse: 00-<trace id>-...`; health checks are not traced.
    telemetry.instrument_fastapi(app, server_request_hook=link_inbound_context)
    # docs-endregion: gateway-instrument
    # docs-region: edge-policy-outside
    # The edge policy wraps the app from the outside, tracing included: what it drops of the caller's
    # trace context never reaches a span or another service (OpenTelemetry's baggage parser still logs an
    # entry it cannot read, escaped and cut by the log format).
    return EdgePolicy(
        app,
        trace_context=settings.inbound_trace_context,
        baggage_keys=settings.baggage_allow_list(),
    )
    # docs-endregion: edge-policy-outside
