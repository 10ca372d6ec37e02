"""shipping's gRPC transport: protobuf in and out, and every failure mapped to a gRPC status code."""

from __future__ import annotations

import logging
from collections.abc import Awaitable
from typing import Any

import grpc
from google.protobuf.timestamp_pb2 import Timestamp
from opentelemetry import trace

from shipping.domain import InvalidShipment, Shipment, ShipmentNotFound, ShippingError, StoreUnavailable
from shipping.service import ShippingService
from tracemesh.shipping.v1 import shipping_pb2, shipping_pb2_grpc

logger = logging.getLogger(__name__)

# docs-region: shipping-codes
# The server interceptor sets the span's status from the code: ERROR for UNAVAILABLE and INTERNAL (shipping
# failed), UNSET for INVALID_ARGUMENT and NOT_FOUND (the caller asked for what cannot be).
_CODE_BY_ERROR: dict[type[ShippingError], grpc.StatusCode] = {
    InvalidShipment: grpc.StatusCode.INVALID_ARGUMENT,
    ShipmentNotFound: grpc.StatusCode.NOT_FOUND,
    StoreUnavailable: grpc.StatusCode.UNAVAILABLE,
}
# docs-endregion: shipping-codes

Context = Any  # grpc.aio.ServicerContext; grpc ships no type information


class ShippingServiceServicer(shipping_pb2_grpc.ShippingServiceServicer):
    def __init__(self, service: ShippingService) -> None:
        self._service = service

    async def BookShipment(
        self, request: shipping_pb2.BookShipmentRequest, context: Context
    ) -> shipping_pb2.Shipment | None:
        return await _answer(self._service.book(request.order_id, request.sku, request.quantity), context)

    async def GetShipment(
        self, request: shipping_pb2.GetShipmentRequest, context: Context
    ) -> shipping_pb2.Shipment | None:
        return await _answer(self._service.get(request.order_id), context)


async def _answer(call: Awaitable[Shipment], context: Context) -> shipping_pb2.Shipment | None:
    """The shipment as protobuf, or the status its failure maps to: nothing escapes as UNKNOWN, which would
    leave the server span UNSET."""
    try:
        return _to_proto(await call)
    except ShippingError as error:
        code = _CODE_BY_ERROR.get(type(error), grpc.StatusCode.INTERNAL)
        if code == grpc.StatusCode.UNAVAILABLE:  # a failure, not an answer: the exception goes on the span
            trace.get_current_span().record_exception(error)
        context.set_code(code)
        context.set_details(str(error))
    except Exception as error:
        logger.exception("unexpected failure")
        trace.get_current_span().record_exception(error)
        context.set_code(grpc.StatusCode.INTERNAL)
        context.set_details("internal error")
    return None


def _to_proto(shipment: Shipment) -> shipping_pb2.Shipment:
    booked_at = Timestamp()
    booked_at.FromDatetime(shipment.booked_at)
    return shipping_pb2.Shipment(
        id=shipment.id,
        order_id=shipment.order_id,
        sku=shipment.sku,
        quantity=shipment.quantity,
        booked_at=booked_at,
    )
