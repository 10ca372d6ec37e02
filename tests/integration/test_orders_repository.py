"""orders' repository on a real database: outcomes recorded in any order never undo a confirmation."""

from __future__ import annotations

import pytest

from orders.domain import Order, OrderStatus
from orders.repository import OrderRepository, create_engine, utcnow


@pytest.mark.parametrize("late", [OrderStatus.FAILED, OrderStatus.PENDING, OrderStatus.REJECTED])
async def test_a_late_outcome_does_not_undo_a_confirmed_order(database_url: str, late: OrderStatus) -> None:
    engine = create_engine(database_url)
    repository = OrderRepository(engine)
    try:
        await repository.create_schema()
        order = Order("7f1c0e9e-3c4b-4d7e-9a55-3d2a5c1f0b11", "BOOK-001", 1, OrderStatus.PENDING, utcnow())
        assert await repository.add(order, "key-1")
        await repository.set_status(order.id, OrderStatus.FAILED)  # a first attempt, refused
        await repository.set_status(order.id, OrderStatus.CONFIRMED)  # a repeat that reserved
        await repository.set_status(order.id, late)  # an attempt that finished last
        assert (await repository.get(order.id)).status is OrderStatus.CONFIRMED
        assert not await repository.add(Order("other", "BOOK-001", 1, OrderStatus.PENDING, utcnow()), "key-1")
        assert (await repository.find_by_key("key-1")) == await repository.get(order.id)
    finally:
        await engine.dispose()
