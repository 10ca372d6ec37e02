"""orders' database access: the only module that speaks SQL."""

from __future__ import annotations

import asyncio
from contextlib import AbstractAsyncContextManager, nullcontext
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
from opentelemetry.instrumentation.utils import suppress_instrumentation
from sqlalchemy import and_, event, make_url, or_, select, update
from sqlalchemy.engine import ExceptionContext
from sqlalchemy.exc import DBAPIError, IntegrityError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine

from orders.domain import Order, OrderNotFound, OrderStatus, StoreUnavailable
from orders.models import Base, IdempotencyKeyRow, OrderRow


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
# Outcomes no later attempt may change: inventory's answer, once recorded, is what happened to the stock.
FINAL_STATUSES = (OrderStatus.CONFIRMED.value, OrderStatus.REJECTED.value)


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
        def _sqlite_wal(dbapi_connection, _record):  # type: ignore[no-untyped-def]
            dbapi_connection.execute("PRAGMA journal_mode=WAL")
            # With WAL, NORMAL syncs at checkpoints instead of every commit: safe against a crashed process,
            # may lose the last commits on power loss, and several times faster on slow disks.
            dbapi_connection.execute("PRAGMA synchronous=NORMAL")

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


class OrderRepository:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._sessions = async_sessionmaker(engine, expire_on_commit=False)
        # SQLite takes one writer at a time. A second writer waits inside SQLite (the busy timeout) while
        # holding its connection's mutex; if the garbage collector then finalizes a statement of that
        # connection on the event loop's thread, the loop blocks on the mutex until the wait times out
        # (30 s), while the writer being waited for needs the loop to commit. So writers queue here, on the
        # event loop, and only one at a time is inside SQLite; PostgreSQL locks rows and needs none of this.
        self._one_writer: AbstractAsyncContextManager[object] = (
            asyncio.Lock() if engine.dialect.name == "sqlite" else nullcontext()
        )

    async def create_schema(self) -> None:
        async with self._engine.begin() as connection:
            await connection.run_sync(Base.metadata.create_all)

    async def ping(self) -> None:
        """Raises StoreUnavailable unless the database answers. Not traced: probes run every few seconds
        and would each make a one-span trace that no request caused."""
        try:
            with suppress_instrumentation():
                async with self._engine.connect() as connection:
                    await connection.execute(select(1))
        except DATABASE_DOWN as error:
            raise StoreUnavailable("orders database unavailable") from error

    async def add(self, order: Order, idempotency_key: str | None = None) -> bool:
        """Stores a new order, and its idempotency key in the same transaction. False (and nothing
        stored) when the key is already taken: another request with that key got there first."""
        try:
            async with self._one_writer, self._sessions.begin() as session:
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
        except DATABASE_DOWN as error:
            raise StoreUnavailable("orders database unavailable") from error
        return True

    async def find_by_key(self, idempotency_key: str) -> Order | None:
        """The order an idempotency key created, if any."""
        try:
            async with self._sessions() as session:
                row = await session.scalar(
                    select(OrderRow)
                    .join(IdempotencyKeyRow, IdempotencyKeyRow.order_id == OrderRow.id)
                    .where(IdempotencyKeyRow.key == idempotency_key)
                )
        except DATABASE_DOWN as error:
            raise StoreUnavailable("orders database unavailable") from error
        return None if row is None else _to_order(row)

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
        try:
            with suppress_instrumentation():
                async with self._sessions() as session:
                    rows = await session.scalars(
                        select(OrderRow)
                        .where(*conditions)
                        .order_by(OrderRow.created_at, OrderRow.id)
                        .limit(limit)
                    )
                    return [_to_order(row) for row in rows]
        except DATABASE_DOWN as error:
            raise StoreUnavailable("orders database unavailable") from error

    async def set_status(self, order_id: str, status: OrderStatus) -> None:
        """Records an outcome. Confirmed and rejected are final: two attempts for one order (a repeat, the
        sweep, a late request) may finish in any order, and the one that finishes last must not undo what
        inventory answered (a failure undoing a reservation, or a late outcome changing a rejection)."""
        try:
            async with self._one_writer, self._sessions.begin() as session:
                await session.execute(
                    update(OrderRow)
                    .where(OrderRow.id == order_id, OrderRow.status.not_in(FINAL_STATUSES))
                    .values(status=status.value)
                )
        except DATABASE_DOWN as error:
            raise StoreUnavailable("orders database unavailable") from error

    async def get(self, order_id: str) -> Order:
        try:
            async with self._sessions() as session:
                row = await session.get(OrderRow, order_id)
        except DATABASE_DOWN as error:
            raise StoreUnavailable("orders database unavailable") from error
        if row is None:
            raise OrderNotFound(order_id)
        return _to_order(row)

    async def list_recent(self, limit: int, *, one_by_one: bool = False) -> list[Order]:
        """The most recent orders, in one query. `one_by_one` reads their ids first, then each order with
        a query of its own: the N+1 pattern, for the demo (one DB span per order instead of one)."""
        try:
            async with self._sessions() as session:
                # docs-region: n-plus-one
                query = select(OrderRow).order_by(OrderRow.created_at.desc(), OrderRow.id).limit(limit)
                if not one_by_one:
                    return [_to_order(row) for row in await session.scalars(query)]
                ids = (await session.scalars(query.with_only_columns(OrderRow.id))).all()
                rows = [await session.get(OrderRow, order_id) for order_id in ids]
                return [_to_order(row) for row in rows if row is not None]
                # docs-endregion: n-plus-one
        except DATABASE_DOWN as error:
            raise StoreUnavailable("orders database unavailable") from error


def _to_order(row: OrderRow) -> Order:
    created_at = row.created_at
    if created_at.tzinfo is None:  # SQLite stores no zone; every time written here is UTC
        created_at = created_at.replace(tzinfo=UTC)
    return Order(row.id, row.sku, row.quantity, OrderStatus(row.status), created_at)


def utcnow() -> datetime:
    return datetime.now(UTC)
