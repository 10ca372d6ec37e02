"""How the gateway talks to orders: gRPC calls with deadlines, protobuf mapped to the public schemas, and
gRPC status codes mapped to the gateway's errors. The routes never see gRPC."""

from __future__ import annotations

from collections.abc import Awaitable
from datetime import UTC
from typing import Literal, TypeVar

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from gateway.errors import Conflict, GatewayError, InvalidRequest, NotFound, Unavailable, UpstreamFailure
from gateway.schemas import OrderOut, ProductOut
from tracemesh.orders.v1 import orders_pb2, orders_pb2_grpc

_T = TypeVar("_T")

_STATUS_NAMES: dict[int, Literal["pending", "confirmed", "rejected", "failed"]] = {
    orders_pb2.ORDER_STATUS_PENDING: "pending",
    orders_pb2.ORDER_STATUS_CONFIRMED: "confirmed",
    orders_pb2.ORDER_STATUS_REJECTED: "rejected",
    orders_pb2.ORDER_STATUS_FAILED: "failed",
}
# orders names its domain error in this trailing metadata key (see orders/servicer.py).
_ERROR_CODE_KEY = "tracemesh-error-code"


class OrdersClient:
    def __init__(self, channel: grpc.aio.Channel, *, timeout_seconds: float) -> None:
        self._channel = channel
        self._stub = orders_pb2_grpc.OrderServiceStub(channel)
        self._health = health_pb2_grpc.HealthStub(channel)
        self._timeout = timeout_seconds

    async def create_order(self, sku: str, quantity: int, idempotency_key: str | None = None) -> OrderOut:
        request = orders_pb2.CreateOrderRequest(
            sku=sku, quantity=quantity, idempotency_key=idempotency_key or ""
        )
        return _order(await self._call(self._stub.CreateOrder(request, timeout=self._timeout)))

    async def get_order(self, order_id: str) -> OrderOut:
        return _order(
            await self._call(
                self._stub.GetOrder(orders_pb2.GetOrderRequest(id=order_id), timeout=self._timeout)
            )
        )

    async def list_orders(self, limit: int) -> list[OrderOut]:
        response = await self._call(
            self._stub.ListOrders(orders_pb2.ListOrdersRequest(limit=limit), timeout=self._timeout)
        )
        return [_order(order) for order in response.orders]

    async def list_products(self) -> list[ProductOut]:
        response = await self._call(
            self._stub.ListProducts(orders_pb2.ListProductsRequest(), timeout=self._timeout)
        )
        return [ProductOut(sku=p.sku, name=p.name, stock=p.stock) for p in response.products]

    async def ready(self) -> bool:
        """True when orders reports SERVING on the standard gRPC health service."""
        try:
            response = await self._health.Check(health_pb2.HealthCheckRequest(service=""), timeout=1.0)
        except grpc.aio.AioRpcError:
            return False
        return bool(response.status == health_pb2.HealthCheckResponse.SERVING)

    async def close(self) -> None:
        await self._channel.close()

    @staticmethod
    async def _call(call: Awaitable[_T]) -> _T:
        try:
            return await call
        except grpc.aio.AioRpcError as error:
            raise _gateway_error(error) from None


def _gateway_error(error: grpc.aio.AioRpcError) -> GatewayError:
    # docs-region: status-to-http
    code = error.code()
    message = error.details() or code.name
    domain_code = dict(error.trailing_metadata() or ()).get(_ERROR_CODE_KEY)
    if code == grpc.StatusCode.NOT_FOUND:
        return NotFound(message, domain_code)
    if code in (grpc.StatusCode.FAILED_PRECONDITION, grpc.StatusCode.ALREADY_EXISTS, grpc.StatusCode.ABORTED):
        return Conflict(message, domain_code)
    if code == grpc.StatusCode.INVALID_ARGUMENT:
        return InvalidRequest(message)
    # CANCELLED here means orders cancelled the call: had the gateway given up, the call would have
    # raised asyncio.CancelledError instead. A server that is stopping cancels the calls it has not
    # started, so the caller should try again, as for UNAVAILABLE.
    if code in (
        grpc.StatusCode.UNAVAILABLE,
        grpc.StatusCode.DEADLINE_EXCEEDED,
        grpc.StatusCode.RESOURCE_EXHAUSTED,
        grpc.StatusCode.CANCELLED,
    ):
        return Unavailable(f"orders unavailable: {message}")
    return UpstreamFailure("orders failed to answer the request")
    # docs-endregion: status-to-http


def _order(order: orders_pb2.Order) -> OrderOut:
    if order.status not in _STATUS_NAMES:
        raise UpstreamFailure(f"orders sent an order in an unknown status ({order.status})")
    return OrderOut(
        id=order.id,
        sku=order.sku,
        quantity=order.quantity,
        status=_STATUS_NAMES[order.status],
        created_at=order.created_at.ToDatetime(tzinfo=UTC),
    )
