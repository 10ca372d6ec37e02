"""orders' database access: the only module that speaks SQL."""

from __future__ import annotations

from datetime import UTC, datetime

from opentelemetry.instrumentation.utils import suppress_instrumentation
from sqlalchemy import and_, or_, select, update
from sqlalchemy.exc import IntegrityError

from orders.domain import Order, OrderNotFound, OrderStatus
from orders.models import IdempotencyKeyRow, OrderRow
from tracemesh_common.database import Database

# Outcomes no later attempt may change: inventory's answer, once recorded, is what happened to the stock.
FINAL_STATUSES = (OrderStatus.CONFIRMED.value, OrderStatus.REJECTED.value)


class OrderRepository:
    """Orders and their idempotency keys. Every method raises StoreUnavailable when the database is down."""

    def __init__(self, database: Database) -> None:
        self.database = database

    async def add(self, order: Order, idempotency_key: str | None = None) -> bool:
        """Stores a new order, and its idempotency key in the same transaction. False (and nothing
        stored) when the key is already taken: another request with that key got there first."""
        try:
            async with self.database.transaction() as session:
                session.add(
                    OrderRow(
                        id=order.id,
                        sku=order.sku,
                        quantity=order.quantity,
                        status=order.status.value,
                        created_at=order.created_at,
                    )
                )
                if idempotency_key is not None:
                    await session.flush()  # the order first: the key refers to it
                    session.add(IdempotencyKeyRow(key=idempotency_key, order_id=order.id))
        except IntegrityError:
            return False
        return True

    async def find_by_key(self, idempotency_key: str) -> Order | None:
        """The order an idempotency key created, if any."""
        async with self.database.session() as session:
            row = await session.scalar(
                select(OrderRow)
                .join(IdempotencyKeyRow, IdempotencyKeyRow.order_id == OrderRow.id)
                .where(IdempotencyKeyRow.key == idempotency_key)
            )
        return None if row is None else to_order(row)

    async def list_pending(
        self, created_before: datetime, limit: int, *, after: tuple[datetime, str] | None = None
    ) -> list[Order]:
        """Orders created before then and still pending, oldest first: those after `after` (the created_at
        and id of the last order of the page before), at most `limit`. Not traced: the settling sweep asks
        every few seconds, and a trace that says "nothing to do" teaches nothing; a run that finds orders
        to settle is traced on its own."""
        conditions = [OrderRow.status == OrderStatus.PENDING.value, OrderRow.created_at < created_before]
        if after is not None:
            created_at, order_id = after
            conditions.append(
                or_(
                    OrderRow.created_at > created_at,
                    and_(OrderRow.created_at == created_at, OrderRow.id > order_id),
                )
            )
        with suppress_instrumentation():
            async with self.database.session() as session:
                rows = await session.scalars(
                    select(OrderRow)
                    .where(*conditions)
                    .order_by(OrderRow.created_at, OrderRow.id)
                    .limit(limit)
                )
                return [to_order(row) for row in rows]

    async def set_status(self, order_id: str, status: OrderStatus) -> None:
        """Records an outcome. Confirmed and rejected are final: two attempts for one order (a repeat, the
        sweep, a late request) may finish in any order, and the one that finishes last must not undo what
        inventory answered (a failure undoing a reservation, or a late outcome changing a rejection)."""
        async with self.database.transaction() as session:
            await session.execute(
                update(OrderRow)
                .where(OrderRow.id == order_id, OrderRow.status.not_in(FINAL_STATUSES))
                .values(status=status.value)
            )

    async def get(self, order_id: str) -> Order:
        async with self.database.session() as session:
            row = await session.get(OrderRow, order_id)
        if row is None:
            raise OrderNotFound(order_id)
        return to_order(row)

    async def list_recent(self, limit: int) -> list[Order]:
        """The most recent orders, in one query."""
        async with self.database.session() as session:
            query = select(OrderRow).order_by(OrderRow.created_at.desc(), OrderRow.id).limit(limit)
            return [to_order(row) for row in await session.scalars(query)]


def to_order(row: OrderRow) -> Order:
    created_at = row.created_at
    if created_at.tzinfo is None:  # SQLite stores no zone; every time written here is UTC
        created_at = created_at.replace(tzinfo=UTC)
    return Order(row.id, row.sku, row.quantity, OrderStatus(row.status), created_at)


def utcnow() -> datetime:
    return datetime.now(UTC)
