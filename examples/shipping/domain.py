"""shipping's business vocabulary: what a shipment is, and how booking one can fail."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class Shipment:
    id: str
    order_id: str
    sku: str
    quantity: int
    booked_at: datetime


class ShippingError(Exception):
    """A failure with a name; the transport maps it to a gRPC status code."""

    code = "shipping_error"


class InvalidShipment(ShippingError):
    code = "invalid_shipment"


class ShipmentNotFound(ShippingError):
    code = "shipment_not_found"

    def __init__(self, order_id: str) -> None:
        super().__init__(f"no shipment booked for order {order_id!r}")


class StoreUnavailable(ShippingError):
    code = "shipping_store_unavailable"
