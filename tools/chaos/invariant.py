"""The business invariant, read from both databases once the mesh is quiet.

For every product: its catalogue stock + what was restocked = its current stock + the quantities of its
confirmed orders. And the same set of orders holds stock on both sides: every reservation in inventory
belongs to a confirmed order in orders, and every confirmed order has its reservation.

And no key made two orders: the fault suite sends every order with an Idempotency-Key of its own, and
repeats some with the same key. A key names one order (it is the key table's primary key), so an order
without a key is one that a repeated request placed a second time.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import create_async_engine

from inventory.catalogue import CATALOGUE
from inventory.models import ProductRow, ReservationRow, RestockRow
from orders.models import IdempotencyKeyRow, OrderRow


@dataclass(frozen=True)
class Verdict:
    holds: bool
    problems: list[str]
    pending: int


def check(orders_db: str, inventory_db: str) -> Verdict:
    return asyncio.run(_check(orders_db, inventory_db))


async def _check(orders_db: str, inventory_db: str) -> Verdict:
    orders_engine, inventory_engine = create_async_engine(orders_db), create_async_engine(inventory_db)
    try:
        async with orders_engine.connect() as connection:
            keys_of = select(func.count()).where(IdempotencyKeyRow.order_id == OrderRow.id).scalar_subquery()
            orders = (
                await connection.execute(
                    select(OrderRow.id, OrderRow.sku, OrderRow.quantity, OrderRow.status, keys_of)
                )
            ).all()
        async with inventory_engine.connect() as connection:
            # Stock and restocks in one statement, so one snapshot: the restock job may run meanwhile.
            restocked_of = (
                select(func.coalesce(func.sum(RestockRow.quantity), 0))
                .where(RestockRow.sku == ProductRow.sku)
                .scalar_subquery()
            )
            balance = await connection.execute(select(ProductRow.sku, ProductRow.stock, restocked_of))
            stock, restocked = {}, {}
            for sku, left, added in balance:
                stock[sku], restocked[sku] = left, int(added)
            reservations = {rid for (rid,) in await connection.execute(select(ReservationRow.id))}
    finally:
        await orders_engine.dispose()
        await inventory_engine.dispose()

    confirmed = {
        order_id: (sku, quantity) for order_id, sku, quantity, status, _ in orders if status == "confirmed"
    }
    sold: Counter[str] = Counter()
    for sku, quantity in confirmed.values():
        sold[sku] += quantity
    problems = []
    for product in CATALOGUE:
        before = product.stock + int(restocked.get(product.sku, 0))
        after = stock[product.sku] + sold[product.sku]
        if before != after:
            problems.append(
                f"{product.sku}: {before} in, {stock[product.sku]} left + {sold[product.sku]} confirmed"
            )
    unconfirmed = set(reservations) - set(confirmed)
    unreserved = set(confirmed) - set(reservations)
    if unconfirmed:
        problems.append(f"{len(unconfirmed)} reservations without a confirmed order")
    if unreserved:
        problems.append(f"{len(unreserved)} confirmed orders without a reservation")
    if unkeyed := sum(1 for *_, keys in orders if keys == 0):
        problems.append(f"{unkeyed} orders without an idempotency key")
    pending = sum(1 for *_, status, _ in orders if status == "pending")
    return Verdict(not problems, problems, pending)
