"""shipping's business rules: which bookings are accepted, and that an order ships once."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime

from shipping.domain import InvalidShipment, Shipment, ShipmentNotFound
from shipping.repository import ShipmentRepository

# orders' ids are UUIDs; anything of this shape is accepted, and nothing else reaches the database.
ORDER_ID = re.compile(r"[A-Za-z0-9-]{1,36}")
SKU = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")


class ShippingService:
    def __init__(self, repository: ShipmentRepository) -> None:
        self._repository = repository

    async def book(self, order_id: str, sku: str, quantity: int) -> Shipment:
        """Books the shipment of an order, or returns the one booked for it before."""
        if not ORDER_ID.fullmatch(order_id):
            raise InvalidShipment("order_id must be 1 to 36 letters, digits or '-'")
        if not SKU.fullmatch(sku):
            raise InvalidShipment("sku must be 1 to 64 letters, digits, '.', '_' or '-'")
        if quantity < 1:
            raise InvalidShipment("quantity must be at least 1")
        shipment = Shipment(str(uuid.uuid4()), order_id, sku, quantity, datetime.now(UTC))
        return await self._repository.add(shipment)

    async def get(self, order_id: str) -> Shipment:
        shipment = await self._repository.find(order_id) if ORDER_ID.fullmatch(order_id) else None
        if shipment is None:
            raise ShipmentNotFound(order_id)
        return shipment
