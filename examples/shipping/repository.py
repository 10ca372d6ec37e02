"""shipping's database access: the only module that speaks SQL."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from shipping.domain import Shipment
from shipping.models import ShipmentRow
from tracemesh_common.database import Database


class ShipmentRepository:
    """Shipments, one per order. Every method raises StoreUnavailable when the database is down."""

    def __init__(self, database: Database) -> None:
        self.database = database

    async def add(self, shipment: Shipment) -> Shipment:
        """Stores the shipment, or returns the one its order already has: the order id is unique, so of two
        bookings of one order, however close together, only the first is stored."""
        try:
            # Write first, and read only when the write is refused: one statement in the common case.
            async with self.database.transaction() as session:
                session.add(
                    ShipmentRow(
                        id=shipment.id,
                        order_id=shipment.order_id,
                        sku=shipment.sku,
                        quantity=shipment.quantity,
                        booked_at=shipment.booked_at,
                    )
                )
        except IntegrityError:
            booked = await self.find(shipment.order_id)
            if booked is None:  # cannot be: the row that refused this one is never deleted
                raise
            return booked
        return shipment

    async def find(self, order_id: str) -> Shipment | None:
        async with self.database.session() as session:
            row = await session.scalar(select(ShipmentRow).where(ShipmentRow.order_id == order_id))
        if row is None:
            return None
        return Shipment(row.id, row.order_id, row.sku, row.quantity, row.booked_at)
