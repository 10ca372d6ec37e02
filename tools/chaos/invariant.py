"""The business invariant, read from both databases once the mesh is quiet.

inventory's own ledger, per product: its catalogue stock - the units of its reservations + the units
restocked = its current stock, and the stock never went below zero, neither now nor at any point of that
ledger replayed in time order (a restock may have covered an oversold product since).

orders against inventory: for every product, its catalogue stock + what was restocked = its current stock +
the quantities of its confirmed orders. And the same set of orders holds stock on both sides: every
reservation in inventory belongs to a confirmed order in orders, for the same sku and quantity, and every
confirmed order has its reservation.

And no key made two orders: the fault suite sends every order with an Idempotency-Key of its own, and
repeats some with the same key. A key names one order (it is the key table's primary key), so an order
without a key is one that a repeated request placed a second time. Every order a client was answered 201
for is confirmed, under the key it was sent with.
"""

from __future__ import annotations

import asyncio
from collections import Counter, defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import DateTime, String, cast, func, literal, null, select, union_all
from sqlalchemy.ext.asyncio import AsyncConnection, create_async_engine

from inventory.catalogue import CATALOGUE
from inventory.models import ProductRow, ReservationRow, RestockRow
from orders.models import IdempotencyKeyRow, OrderRow


@dataclass(frozen=True)
class Verdict:
    holds: bool
    problems: list[str]
    pending: int


@dataclass(frozen=True)
class Movement:
    """One change of a product's stock, as inventory recorded it: a reservation (`reservation` names it)
    takes `units`, a restock adds them."""

    sku: str
    units: int
    at: datetime
    reservation: str | None


@dataclass(frozen=True)
class Stock:
    """inventory's data, read in one statement (one snapshot: the restock job may run meanwhile)."""

    levels: dict[str, int]
    reservations: dict[str, tuple[str, int]]  # id -> (sku, quantity)
    movements: list[Movement]


def check(
    orders_db: str,
    inventory_db: str,
    *,
    answered: Mapping[str, str] | None = None,
    every_order_keyed: bool = True,
) -> Verdict:
    """`answered`: the orders clients were answered 201 for, by the Idempotency-Key they sent.
    `every_order_keyed`: whether an order without a key breaks the invariant (every request had one)."""
    return asyncio.run(_check(orders_db, inventory_db, answered or {}, every_order_keyed))


async def _check(
    orders_db: str, inventory_db: str, answered: Mapping[str, str], every_order_keyed: bool
) -> Verdict:
    orders_engine, inventory_engine = create_async_engine(orders_db), create_async_engine(inventory_db)
    try:
        async with orders_engine.connect() as connection:
            keys_of = select(func.count()).where(IdempotencyKeyRow.order_id == OrderRow.id).scalar_subquery()
            orders = (
                await connection.execute(
                    select(OrderRow.id, OrderRow.sku, OrderRow.quantity, OrderRow.status, keys_of)
                )
            ).all()
            order_of_key: dict[str, str] = {}
            if answered:
                keys = await connection.execute(select(IdempotencyKeyRow.key, IdempotencyKeyRow.order_id))
                order_of_key = {key: order_id for key, order_id in keys}
        async with inventory_engine.connect() as connection:
            stock = await _read_stock(connection)
    finally:
        await orders_engine.dispose()
        await inventory_engine.dispose()

    confirmed = {
        order_id: (sku, quantity) for order_id, sku, quantity, status, _ in orders if status == "confirmed"
    }
    problems = ledger_problems(stock)
    sold: Counter[str] = Counter()
    for sku, quantity in confirmed.values():
        sold[sku] += quantity
    restocked: Counter[str] = Counter()
    for movement in stock.movements:
        if movement.reservation is None:
            restocked[movement.sku] += movement.units
    for product in CATALOGUE:
        before = product.stock + restocked[product.sku]
        left = stock.levels[product.sku]
        if before != left + sold[product.sku]:
            problems.append(f"{product.sku}: {before} in, {left} left + {sold[product.sku]} confirmed")
    unconfirmed = set(stock.reservations) - set(confirmed)
    unreserved = set(confirmed) - set(stock.reservations)
    if unconfirmed:
        problems.append(f"{len(unconfirmed)} reservations without a confirmed order")
    if unreserved:
        problems.append(f"{len(unreserved)} confirmed orders without a reservation")
    both = set(confirmed) & set(stock.reservations)
    if mismatched := sum(1 for order_id in both if confirmed[order_id] != stock.reservations[order_id]):
        problems.append(f"{mismatched} reservations of another sku or quantity than their order's")
    if every_order_keyed and (unkeyed := sum(1 for *_, keys in orders if keys == 0)):
        problems.append(f"{unkeyed} orders without an idempotency key")
    # A 201 said "placed": that order is confirmed, and it is the one its key names.
    lost = sum(
        1
        for key, order_id in answered.items()
        if order_of_key.get(key) != order_id or order_id not in confirmed
    )
    if lost:
        problems.append(f"{lost} orders answered 201 not confirmed under their key")
    pending = sum(1 for *_, status, _ in orders if status == "pending")
    return Verdict(not problems, problems, pending)


async def _read_stock(connection: AsyncConnection) -> Stock:
    """Every product's stock, every reservation and every restock, in one statement."""
    no_time, no_id = cast(null(), DateTime(timezone=True)), cast(null(), String)
    rows = await connection.execute(
        union_all(
            select(literal("stock"), ProductRow.sku, ProductRow.stock, no_time, no_id),
            select(
                literal("reserved"),
                ReservationRow.sku,
                ReservationRow.quantity,
                ReservationRow.created_at,
                ReservationRow.id,
            ),
            select(literal("restocked"), RestockRow.sku, RestockRow.quantity, RestockRow.created_at, no_id),
        )
    )
    stock = Stock({}, {}, [])
    for kind, sku, units, at, reservation in rows:
        if kind == "stock":
            stock.levels[sku] = units
        elif kind == "reserved":
            stock.reservations[reservation] = (sku, units)
            stock.movements.append(Movement(sku, units, at, reservation))
        else:
            stock.movements.append(Movement(sku, units, at, None))
    return stock


def ledger_problems(stock: Stock) -> list[str]:
    """inventory's ledger against itself: catalogue - reserved + restocked = stock, never below zero."""
    problems = []
    by_sku: defaultdict[str, list[Movement]] = defaultdict(list)
    for movement in stock.movements:
        by_sku[movement.sku].append(movement)
    for product in CATALOGUE:
        movements = by_sku[product.sku]
        reserved = sum(m.units for m in movements if m.reservation is not None)
        restocked = sum(m.units for m in movements if m.reservation is None)
        now = stock.levels[product.sku]
        if product.stock - reserved + restocked != now:
            problems.append(
                f"{product.sku}: {product.stock} at start - {reserved} reserved + {restocked} restocked"
                f" = {product.stock - reserved + restocked}, but {now} in stock"
            )
        if now < 0:
            problems.append(f"{product.sku}: {now} in stock")
        # In time order; at the same instant a restock first, so that only a real shortfall counts.
        level = product.stock
        for movement in sorted(movements, key=lambda m: (m.at, m.reservation is not None)):
            level += movement.units if movement.reservation is None else -movement.units
            if level < 0:
                problems.append(
                    f"{product.sku}: oversold, stock {level} after reservation {movement.reservation}"
                )
                break
    return problems
