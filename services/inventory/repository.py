"""inventory's database access: the only module that speaks SQL."""

from __future__ import annotations

from datetime import UTC, datetime

from opentelemetry.instrumentation.utils import suppress_instrumentation
from sqlalchemy import DateTime, Integer, String, exists, insert, literal, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from inventory.domain import (
    InsufficientStock,
    InventoryError,
    Product,
    Reservation,
    ReservationConflict,
    UnknownProduct,
)
from inventory.models import ProductRow, RefusalRow, ReservationRow, RestockRow
from tracemesh_common.database import Database


class StockRepository:
    """Products, reservations, refusals and restocks. Every method raises StoreUnavailable when the
    database is down."""

    def __init__(self, database: Database) -> None:
        self.database = database

    async def list_products(self) -> list[Product]:
        """Every product, in one query."""
        async with self.database.session() as session:
            rows = await session.scalars(select(ProductRow).order_by(ProductRow.sku))
            return [Product(row.sku, row.name, row.stock) for row in rows]

    async def get_product(self, sku: str) -> Product:
        async with self.database.session() as session:
            row = await session.get(ProductRow, sku)
        if row is None:
            raise UnknownProduct(sku)
        return Product(row.sku, row.name, row.stock)

    async def reserve(self, reservation_id: str, sku: str, quantity: int) -> Reservation:
        """Takes `quantity` off the stock of `sku` and records the reservation, in one transaction; or
        records the refusal (an unknown sku, not enough stock) and raises it.

        Atomic without locks in Python: the decrement is a single conditional UPDATE, so two concurrent
        reservations can never both take the last unit (PostgreSQL locks the row; SQLite has one writer).
        Idempotent: the reservation id is a primary key, so a replayed request rolls back its own
        decrement and is answered from the stored reservation (with the stock as it is now). A refusal is
        kept under the id too, so an attempt that comes after it (a retry, or an earlier attempt that was
        held up and arrives late) gets the same refusal, and never takes stock once the caller was told no.
        """
        refusal: RefusalRow | None = None
        try:
            async with self.database.transaction() as session:
                # docs-region: reserve-update
                # Write first: on SQLite a transaction that reads before it writes cannot wait for the
                # write lock, it fails at once; one that starts with its write waits its turn.
                remaining = await session.scalar(
                    update(ProductRow)
                    .where(ProductRow.sku == sku, ProductRow.stock >= quantity)
                    .values(stock=ProductRow.stock - quantity)
                    .returning(ProductRow.stock)
                )
                # docs-endregion: reserve-update
                if remaining is None:
                    refusal = await self._refuse(session, reservation_id, sku, quantity)
                    if refusal is not None:
                        session.add(refusal)
                    else:  # restocked since the UPDATE looked; the row is locked now, take it
                        remaining = await session.scalar(
                            update(ProductRow)
                            .where(ProductRow.sku == sku)
                            .values(stock=ProductRow.stock - quantity)
                            .returning(ProductRow.stock)
                        )
                if refusal is None and not await self._record(session, reservation_id, sku, quantity):
                    raise _Replay  # refused earlier: give the stock back, answer the same refusal
        except (IntegrityError, _Replay):
            return await self._replay(reservation_id, sku, quantity)
        if refusal is not None:
            raise _refused(refusal)
        assert remaining is not None
        return Reservation(reservation_id, sku, quantity, remaining)

    async def _refuse(
        self, session: AsyncSession, reservation_id: str, sku: str, quantity: int
    ) -> RefusalRow | None:
        """Says why the UPDATE matched no row: the refusal to record, or None if the stock is there now.

        A reservation and a refusal must never both be recorded for one id, whichever attempts with that
        id run at the same time. They live in two tables, so no primary key can keep them apart; the
        product's row lock does. The reserving UPDATE holds it until its transaction ends; this SELECT ...
        FOR UPDATE takes it before anything is decided (on PostgreSQL an UPDATE that matches no row locks
        none). Attempts with one id then come one after the other, and each statement below sees what the
        one before committed, even under READ COMMITTED. On SQLite, FOR UPDATE is left out: the UPDATE
        has already taken the database's single write lock.
        """
        stock = await session.scalar(select(ProductRow.stock).where(ProductRow.sku == sku).with_for_update())
        if await session.get(ReservationRow, reservation_id) is not None:
            raise _Replay  # already reserved earlier: answer as the first time, not "out of stock"
        if stock is not None and stock >= quantity:
            return None
        # An earlier refusal under this id is found by the primary key when this one is committed.
        return RefusalRow(id=reservation_id, sku=sku, quantity=quantity, available=stock)

    async def _record(self, session: AsyncSession, reservation_id: str, sku: str, quantity: int) -> bool:
        """Records the reservation, unless this id was refused before (False). One INSERT ... SELECT that
        looks for the refusal itself: a reservation stays an UPDATE and an INSERT, and since the UPDATE
        holds the product's row lock, the statement sees any refusal decided under that lock before."""
        connection = await session.connection()
        recorded = await connection.execute(
            insert(ReservationRow).from_select(
                ["id", "sku", "quantity", "created_at"],
                select(
                    literal(reservation_id, String),
                    literal(sku, String),
                    literal(quantity, Integer),
                    literal(datetime.now(UTC), DateTime(timezone=True)),
                ).where(~exists().where(RefusalRow.id == reservation_id)),
            )
        )
        return recorded.rowcount == 1

    async def _replay(self, reservation_id: str, sku: str, quantity: int) -> Reservation:
        """Answers an attempt whose id was used before as the first was answered: the reservation (with
        the stock as it is now) or the same refusal. The id with another sku or quantity is a conflict."""
        async with self.database.session() as session:
            row = await session.get(ReservationRow, reservation_id)
            if row is None:
                refusal = await session.get(RefusalRow, reservation_id)
                if refusal is not None and (refusal.sku, refusal.quantity) == (sku, quantity):
                    raise _refused(refusal)
                raise ReservationConflict(reservation_id)
            stock = await session.scalar(select(ProductRow.stock).where(ProductRow.sku == sku))
        if row.sku != sku or row.quantity != quantity or stock is None:
            raise ReservationConflict(reservation_id)
        return Reservation(reservation_id, sku, quantity, stock, replayed=True)

    async def shortfalls(self, levels: dict[str, int]) -> dict[str, int]:
        """The units each product lacks to reach its level (only those that lack any). Not traced: the
        restock job asks every few seconds, and a trace that says "nothing to do" teaches nothing."""
        with suppress_instrumentation():
            async with self.database.session() as session:
                stocks = await session.execute(select(ProductRow.sku, ProductRow.stock))
                return {sku: levels[sku] - stock for sku, stock in stocks if stock < levels.get(sku, 0)}

    async def restock(self, shortfalls: dict[str, int], levels: dict[str, int]) -> dict[str, int]:
        """Adds each shortfall to its product's stock and records it; returns what was added per sku.

        Reservations may run meanwhile: each UPDATE adds its units atomically, and only while that keeps
        the stock within its level (a restock that raced another is skipped, the next run catches up).
        """
        added: dict[str, int] = {}
        async with self.database.transaction() as session:
            for sku, units in sorted(shortfalls.items()):
                result = await session.execute(
                    update(ProductRow)
                    .where(ProductRow.sku == sku, ProductRow.stock + units <= levels[sku])
                    .values(stock=ProductRow.stock + units)
                )
                if result.rowcount:  # type: ignore[attr-defined]
                    session.add(RestockRow(sku=sku, quantity=units))
                    added[sku] = units
        return added


def _refused(refusal: RefusalRow) -> InventoryError:
    """The refusal's answer, the same every time it is given."""
    if refusal.available is None:
        return UnknownProduct(refusal.sku)
    return InsufficientStock(refusal.sku, refusal.quantity, refusal.available)


class _Replay(Exception):
    """Internal signal: the reservation id was used before; roll back and answer as the first time."""
