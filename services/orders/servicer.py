"""orders' gRPC transport: protobuf in and out, and every failure mapped to a gRPC status code."""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import grpc
from google.protobuf.timestamp_pb2 import Timestamp
from opentelemetry import trace
from opentelemetry.trace import Status, StatusCode

from orders import domain
from orders.service import OrderService
from tracemesh.orders.v1 import orders_pb2, orders_pb2_grpc

logger = logging.getLogger(__name__)

# docs-region: code-by-error
# The gRPC instrumentation sets the server span's status from the code: ERROR for UNAVAILABLE and
# INTERNAL (this service, or what it depends on, failed), UNSET for NOT_FOUND, FAILED_PRECONDITION and
# INVALID_ARGUMENT (the caller asked for something that cannot be done).
_CODE_BY_ERROR: dict[type[domain.OrdersError], grpc.StatusCode] = {
    domain.InvalidOrder: grpc.StatusCode.INVALID_ARGUMENT,
    domain.OrderNotFound: grpc.StatusCode.NOT_FOUND,
    domain.UnknownProduct: grpc.StatusCode.NOT_FOUND,
    domain.InsufficientStock: grpc.StatusCode.FAILED_PRECONDITION,
    domain.InventoryUnavailable: grpc.StatusCode.UNAVAILABLE,
    domain.StoreUnavailable: grpc.StatusCode.UNAVAILABLE,
    domain.IdempotencyConflict: grpc.StatusCode.ALREADY_EXISTS,
    domain.OrderRejected: grpc.StatusCode.FAILED_PRECONDITION,
}
_FAILURES = {grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.INTERNAL}
# docs-endregion: code-by-error
# Trailing metadata key that names the domain error, so the gateway can tell "unknown sku" from
# "unknown order" although both are NOT_FOUND. Lowercase: gRPC metadata keys must be.
ERROR_CODE_KEY = "tracemesh-error-code"

_STATUS_TO_PROTO = {
    domain.OrderStatus.PENDING: orders_pb2.ORDER_STATUS_PENDING,
    domain.OrderStatus.CONFIRMED: orders_pb2.ORDER_STATUS_CONFIRMED,
    domain.OrderStatus.REJECTED: orders_pb2.ORDER_STATUS_REJECTED,
    domain.OrderStatus.FAILED: orders_pb2.ORDER_STATUS_FAILED,
}


Context = Any  # grpc.aio.ServicerContext; grpc ships no type information
_Request = TypeVar("_Request")
_Response = TypeVar("_Response")
_Method = Callable[[Any, _Request, Context], Awaitable[_Response]]


def _grpc_errors(method: _Method[_Request, _Response]) -> _Method[_Request, _Response | None]:
    """Turns every exception of a handler into a gRPC status. An uncaught exception would reach the
    client as UNKNOWN and leave the server span's status UNSET; here nothing escapes unmapped."""

    @functools.wraps(method)
    async def handler(self: Any, request: _Request, context: Context) -> _Response | None:
        try:
            return await method(self, request, context)
        except domain.OrdersError as error:
            code = _CODE_BY_ERROR.get(type(error), grpc.StatusCode.INTERNAL)
            if code in _FAILURES:
                # A real failure: the exception goes on the span. A refusal (NOT_FOUND, ...) is an answer.
                trace.get_current_span().record_exception(error)
            _set_status(context, code, str(error), error.code)
        except asyncio.CancelledError:
            # The caller gave up (its deadline passed, or it cancelled): grpc cancels this handler, and
            # the span would otherwise end as if all went well.
            trace.get_current_span().set_status(
                Status(StatusCode.ERROR, "cancelled: the caller stopped waiting")
            )
            raise
        except Exception as error:
            logger.exception("unexpected failure")
            trace.get_current_span().record_exception(error)
            _set_status(context, grpc.StatusCode.INTERNAL, "internal error", "internal")
        return None

    return handler


def _set_status(context: Context, code: grpc.StatusCode, message: str, domain_code: str) -> None:
    # docs-region: set-status
    # set_code instead of context.abort(): abort raises an exception of its own, which would land on the
    # span as an "exception" event even for a plain NOT_FOUND. The instrumentation's context wrapper
    # turns set_code into the span's status (ERROR only for failures such as UNAVAILABLE and INTERNAL).
    context.set_code(code)
    context.set_details(message)
    context.set_trailing_metadata(((ERROR_CODE_KEY, domain_code),))
    # docs-endregion: set-status


class OrderServiceServicer(orders_pb2_grpc.OrderServiceServicer):
    def __init__(self, service: OrderService) -> None:
        self._service = service

    @_grpc_errors
    async def CreateOrder(self, request: orders_pb2.CreateOrderRequest, context: Context) -> orders_pb2.Order:
        order = await self._service.create_order(
            request.sku,
            request.quantity,
            deadline=_deadline_of(context),
            idempotency_key=request.idempotency_key or None,
        )
        return _order_to_proto(order)

    @_grpc_errors
    async def GetOrder(self, request: orders_pb2.GetOrderRequest, context: Context) -> orders_pb2.Order:
        return _order_to_proto(await self._service.get_order(request.id))

    @_grpc_errors
    async def ListOrders(
        self, request: orders_pb2.ListOrdersRequest, context: Context
    ) -> orders_pb2.ListOrdersResponse:
        orders = await self._service.list_orders(request.limit)
        return orders_pb2.ListOrdersResponse(orders=[_order_to_proto(order) for order in orders])

    @_grpc_errors
    async def ListProducts(
        self, request: orders_pb2.ListProductsRequest, context: Context
    ) -> orders_pb2.ListProductsResponse:
        products = await self._service.list_products(deadline=_deadline_of(context))
        return orders_pb2.ListProductsResponse(
            products=[orders_pb2.Product(sku=p.sku, name=p.name, stock=p.stock) for p in products]
        )


def _deadline_of(context: Context) -> float | None:
    """The caller's gRPC deadline as a time.monotonic() instant, fixed now: work done before the call to
    inventory (the order's first write) then counts against it."""
    remaining = context.time_remaining()
    return None if remaining is None else time.monotonic() + remaining


def _order_to_proto(order: domain.Order) -> orders_pb2.Order:
    created_at = Timestamp()
    created_at.FromDatetime(order.created_at)
    return orders_pb2.Order(
        id=order.id,
        sku=order.sku,
        quantity=order.quantity,
        status=_STATUS_TO_PROTO[order.status],
        created_at=created_at,
    )
