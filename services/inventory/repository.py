"""inventory's database access: the only module that speaks SQL."""

from __future__ import annotations

import asyncio
from contextlib import AbstractAsyncContextManager, nullcontext
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
from opentelemetry.instrumentation.utils import suppress_instrumentation
from sqlalchemy import (
    ColumnElement,
    DateTime,
    Integer,
    String,
    event,
    exists,
    func,
    insert,
    literal,
    make_url,
    select,
    text,
    update,
)
from sqlalchemy.engine import ExceptionContext
from sqlalchemy.exc import DBAPIError, IntegrityError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

from inventory.domain import (
    InsufficientStock,
    InventoryError,
    Product,
    Reservation,
    ReservationConflict,
    StoreUnavailable,
    UnknownProduct,
)
from inventory.models import Base, ProductRow, RefusalRow, ReservationRow, RestockRow


class ConnectionLost(Exception):
    """The connection broke during a statement: the database stopped or restarted, or the network failed."""


# What "the database is unreachable" looks like: SQLAlchemy's errors for a lost or refused connection, a
# connection that broke mid-statement (see create_engine), no connection free in the pool within its
# timeout, the socket's own errors, and asyncpg's errors raised while connecting (an unknown database, a
# server starting up or out of connection slots), which reach us unwrapped. Anything else is a bug.
DATABASE_DOWN = (
    OperationalError,
    InterfaceError,
    ConnectionLost,
    PoolTimeoutError,
    OSError,
    asyncpg.PostgresError,
)


# SQLite opens a file it cannot write read-only, silently, and the pool would keep that connection:
# every write through it fails ("attempt to write a readonly database") long after the file is writable
# again. A failed write to the file or its write-ahead log ("disk I/O error") can leave a connection the
# same. Either ends the connection, as a lost one would be.
SQLITE_STALE_CONNECTION = ("attempt to write a readonly database", "disk I/O error")


def create_engine(url: str) -> AsyncEngine:
    """An async engine; SQLite files get WAL and a busy timeout so concurrent writers wait, not fail."""
    if url.startswith("sqlite"):
        database = make_url(url).database
        if database and database != ":memory:":
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_async_engine(url, connect_args={"timeout": 30})

        @event.listens_for(engine.sync_engine, "connect")
        def _sqlite_pragmas(dbapi_connection, _record):  # type: ignore[no-untyped-def]
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            # With WAL, NORMAL syncs at checkpoints instead of every commit: safe against a crashed process,
            # may lose the last commits on power loss, and several times faster on slow disks.
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.close()

    else:
        engine = create_async_engine(url, pool_pre_ping=True)

    @event.listens_for(engine.sync_engine, "handle_error")
    def _connection_lost(context: ExceptionContext) -> BaseException | None:
        # asyncpg reports a connection that broke mid-statement as a PostgresConnectionError, which SQLAlchemy
        # raises as a bare DBAPIError, the base class of every database error (a bug's too). Its own
        # disconnect check is precise: the driver's connection is closed. Left alone: the pool's pre-ping,
        # which reconnects by itself, and a cancelled task (SQLAlchemy counts its connection as lost too,
        # but the cancellation must go on up as a cancellation; it is no DBAPIError).
        if any(sign in str(context.original_exception) for sign in SQLITE_STALE_CONNECTION):
            context.is_disconnect = True  # the pool drops this connection; the next one opens read-write
        driver_error = isinstance(context.sqlalchemy_exception, DBAPIError)
        if context.is_disconnect and driver_error and not context.is_pre_ping:
            return ConnectionLost(str(context.original_exception))
        return None

    return engine


class StockRepository:
    def __init__(self, engine: AsyncEngine) -> None:
        self._sessions = async_sessionmaker(engine, expire_on_commit=False)
        self._engine = engine
        # SQLite takes one writer at a time. A second writer waits inside SQLite (the busy timeout) while
        # holding its connection's mutex; if the garbage collector then finalizes a statement of that
        # connection on the event loop's thread, the loop blocks on the mutex until the wait times out
        # (30 s), while the writer being waited for needs the loop to commit. So writers queue here, on the
        # event loop, and only one at a time is inside SQLite; PostgreSQL locks rows and needs none of this.
        self._one_writer: AbstractAsyncContextManager[object] = (
            asyncio.Lock() if engine.dialect.name == "sqlite" else nullcontext()
        )

    async def create_schema(self, catalogue: list[Product]) -> None:
        """Creates the tables and, on an empty database, the demo catalogue."""
        async with self._engine.begin() as connection:
            await connection.run_sync(Base.metadata.create_all)
        async with self._sessions.begin() as session:
            if await session.scalar(select(func.count()).select_from(ProductRow)) == 0:
                session.add_all(ProductRow(sku=p.sku, name=p.name, stock=p.stock) for p in catalogue)

    async def ping(self) -> None:
        """Raises StoreUnavailable unless the database answers. Not traced: probes run every few seconds
        and would each make a one-span trace that no request caused."""
        # docs-region: ping-untraced
        try:
            with suppress_instrumentation():
                async with self._engine.connect() as connection:
                    await connection.execute(select(1))
        except DATABASE_DOWN as error:
            raise StoreUnavailable("stock database unavailable") from error
            # docs-endregion: ping-untraced

    async def list_products(self, *, one_by_one: bool = False, walk_rows: int = 0) -> list[Product]:
        """Every product, in one query. `one_by_one` reads the skus first, then each product with a
        query of its own (the N+1 pattern, for the demo); `walk_rows` makes the query slow (see _walk)."""
        try:
            async with self._sessions() as session:
                query = select(ProductRow).where(*_walk(walk_rows)).order_by(ProductRow.sku)
                if not one_by_one:
                    rows = list(await session.scalars(query))
                else:
                    skus = await session.scalars(query.with_only_columns(ProductRow.sku))
                    rows = [
                        row for sku in skus.all() if (row := await session.get(ProductRow, sku)) is not None
                    ]
                return [Product(row.sku, row.name, row.stock) for row in rows]
        except DATABASE_DOWN as error:
            raise StoreUnavailable("stock database unavailable") from error

    async def get_product(self, sku: str) -> Product:
        try:
            async with self._sessions() as session:
                row = await session.get(ProductRow, sku)
        except DATABASE_DOWN as error:
            raise StoreUnavailable("stock database unavailable") from error
        if row is None:
            raise UnknownProduct(sku)
        return Product(row.sku, row.name, row.stock)

    async def reserve(
        self, reservation_id: str, sku: str, quantity: int, *, walk_rows: int = 0
    ) -> Reservation:
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
            try:
                async with self._one_writer, self._sessions.begin() as session:
                    # docs-region: reserve-update
                    # Write first: on SQLite a transaction that reads before it writes cannot wait for the
                    # write lock, it fails at once; one that starts with its write waits its turn.
                    remaining = await session.scalar(
                        update(ProductRow)
                        .where(ProductRow.sku == sku, ProductRow.stock >= quantity, *_walk(walk_rows))
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
        except DATABASE_DOWN as error:
            raise StoreUnavailable("stock database unavailable") from error
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
        async with self._sessions() as session:
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
        try:
            with suppress_instrumentation():
                async with self._sessions() as session:
                    stocks = await session.execute(select(ProductRow.sku, ProductRow.stock))
                    return {sku: levels[sku] - stock for sku, stock in stocks if stock < levels.get(sku, 0)}
        except DATABASE_DOWN as error:
            raise StoreUnavailable("stock database unavailable") from error

    async def restock(self, shortfalls: dict[str, int], levels: dict[str, int]) -> dict[str, int]:
        """Adds each shortfall to its product's stock and records it; returns what was added per sku.

        Reservations may run meanwhile: each UPDATE adds its units atomically, and only while that keeps
        the stock within its level (a restock that raced another is skipped, the next run catches up).
        """
        added: dict[str, int] = {}
        try:
            async with self._one_writer, self._sessions.begin() as session:
                for sku, units in sorted(shortfalls.items()):
                    result = await session.execute(
                        update(ProductRow)
                        .where(ProductRow.sku == sku, ProductRow.stock + units <= levels[sku])
                        .values(stock=ProductRow.stock + units)
                    )
                    if result.rowcount:  # type: ignore[attr-defined]
                        session.add(RestockRow(sku=sku, quantity=units))
                        added[sku] = units
        except DATABASE_DOWN as error:
            raise StoreUnavailable("stock database unavailable") from error
        return added


# docs-region: slow-walk
def _walk(rows: int) -> list[ColumnElement[bool]]:
    """A condition that is always true but makes the database walk `rows` rows to prove it: a real,
    slow statement (what a lookup that lost its index costs), not a sleep. rows=0: no condition."""
    if rows <= 0:
        return []
    walk = text(
        "(WITH RECURSIVE walk(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM walk WHERE n < :rows)"
        " SELECT count(*) FROM walk) > 0"
    ).bindparams(rows=rows)
    return [walk]  # type: ignore[list-item]
    # docs-endregion: slow-walk


def _refused(refusal: RefusalRow) -> InventoryError:
    """The refusal's answer, the same every time it is given."""
    if refusal.available is None:
        return UnknownProduct(refusal.sku)
    return InsufficientStock(refusal.sku, refusal.quantity, refusal.available)


class _Replay(Exception):
    """Internal signal: the reservation id was used before; roll back and answer as the first time."""
