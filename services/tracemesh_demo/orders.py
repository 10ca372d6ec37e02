"""The demo in orders: listing orders the N+1 way when a request asks for the `n-plus-one` scenario."""

from __future__ import annotations

from sqlalchemy import select

from orders.domain import Order
from orders.models import OrderRow
from orders.repository import OrderRepository, to_order
from tracemesh_demo.scenarios import Scenario, current_scenario


class DemoOrderRepository(OrderRepository):
    """orders' repository, with the flaw a scenario asks for (read from the request's baggage)."""

    async def list_recent(self, limit: int) -> list[Order]:
        if current_scenario() is not Scenario.N_PLUS_ONE:
            return await super().list_recent(limit)
        # docs-region: n-plus-one
        # The ids first, then each order with a query of its own: one DB span per order instead of one.
        async with self.database.session() as session:
            query = select(OrderRow.id).order_by(OrderRow.created_at.desc(), OrderRow.id).limit(limit)
            ids = (await session.scalars(query)).all()
            rows = [await session.get(OrderRow, order_id) for order_id in ids]
            return [to_order(row) for row in rows if row is not None]
            # docs-endregion: n-plus-one
