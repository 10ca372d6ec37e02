"""orders' repository on a real database: outcomes recorded in any order never undo a confirmation or a
rejection, and the settling sweep's pages cover every pending order once."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.exc import IntegrityError

from orders.domain import Order, OrderStatus
from orders.models import IdempotencyKeyRow
from orders.repository import OrderRepository, utcnow
from tests.support import orders_database
from tracemesh_common.migrations import upgrade


@asynccontextmanager
async def repository(database_url: str) -> AsyncIterator[OrderRepository]:
    database = orders_database(database_url)
    try:
        orders = OrderRepository(database)
        await upgrade(orders.database.engine, "orders")
        yield orders
    finally:
        await database.dispose()


@pytest.mark.parametrize("late", [OrderStatus.FAILED, OrderStatus.PENDING, OrderStatus.REJECTED])
async def test_a_late_outcome_does_not_undo_a_confirmed_order(database_url: str, late: OrderStatus) -> None:
    async with repository(database_url) as orders:
        order = Order("7f1c0e9e-3c4b-4d7e-9a55-3d2a5c1f0b11", "BOOK-001", 1, OrderStatus.PENDING, utcnow())
        assert await orders.add(order, "key-1")
        await orders.set_status(order.id, OrderStatus.FAILED)  # a first attempt, refused
        await orders.set_status(order.id, OrderStatus.CONFIRMED)  # a repeat that reserved
        await orders.set_status(order.id, late)  # an attempt that finished last
        assert (await orders.get(order.id)).status is OrderStatus.CONFIRMED
        assert not await orders.add(Order("other", "BOOK-001", 1, OrderStatus.PENDING, utcnow()), "key-1")
        assert (await orders.find_by_key("key-1")) == await orders.get(order.id)


@pytest.mark.parametrize("late", [OrderStatus.CONFIRMED, OrderStatus.FAILED, OrderStatus.PENDING])
async def test_a_late_outcome_does_not_change_a_rejected_order(database_url: str, late: OrderStatus) -> None:
    async with repository(database_url) as orders:
        order = Order("0b7e4c1a-9d2f-4e8b-8c3a-5f6d7e8f9a0b", "LAMP-9", 9, OrderStatus.PENDING, utcnow())
        assert await orders.add(order)
        await orders.set_status(order.id, OrderStatus.PENDING)  # a first attempt, its answer lost
        await orders.set_status(order.id, OrderStatus.REJECTED)  # inventory refused a repeat
        await orders.set_status(order.id, late)  # the first attempt's outcome, recorded last
        assert (await orders.get(order.id)).status is OrderStatus.REJECTED


async def test_pages_of_pending_orders_cover_each_once_oldest_first(database_url: str) -> None:
    now = utcnow()
    same_time = now - timedelta(minutes=5)
    stored = [
        ("p1", OrderStatus.PENDING, now - timedelta(minutes=9)),
        ("done", OrderStatus.CONFIRMED, now - timedelta(minutes=8)),
        ("p3", OrderStatus.PENDING, same_time),  # two orders placed in the same microsecond:
        ("p2", OrderStatus.PENDING, same_time),  # ordered by id, neither skipped at a page boundary
        ("p4", OrderStatus.PENDING, now - timedelta(minutes=2)),
        ("recent", OrderStatus.PENDING, now),
    ]
    async with repository(database_url) as orders:
        for order_id, status, created_at in stored:
            assert await orders.add(Order(order_id, "BOOK-001", 1, status, created_at))
        cutoff = now - timedelta(minutes=1)
        pages: list[list[str]] = []
        after: tuple[datetime, str] | None = None
        while page := await orders.list_pending(cutoff, 2, after=after):
            pages.append([order.id for order in page])
            after = (page[-1].created_at, page[-1].id)
        assert pages == [["p1", "p2"], ["p3", "p4"]]
        assert all(order.created_at.tzinfo is UTC for order in await orders.list_pending(cutoff, 10))


async def test_an_idempotency_key_must_name_a_stored_order(database_url: str) -> None:
    # The foreign key holds on SQLite too, where each connection must turn foreign keys on itself (the
    # shared engine does): a key can never point at an order that does not exist.
    async with repository(database_url) as orders:
        with pytest.raises(IntegrityError):
            async with orders.database.transaction() as session:
                session.add(IdempotencyKeyRow(key="orphan", order_id="no-such-order"))
