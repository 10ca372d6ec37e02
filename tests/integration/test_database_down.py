"""A database that cannot be reached is an outage (StoreUnavailable: 503 or UNAVAILABLE at the edge), never a
bug (500 or INTERNAL), whichever way the connection fails."""

from __future__ import annotations

import asyncio
import os
import sqlite3
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
import pytest
from sqlalchemy.exc import ProgrammingError

from chaos.frozen import Frozen, thaw_tree, unsupported
from inventory.domain import StoreUnavailable as StockStoreUnavailable
from inventory.repository import StockRepository
from orders.domain import Order, OrderStatus, StoreUnavailable
from orders.repository import OrderRepository
from tests.support import POSTGRES_URL, free_port, orders_database, postgres_database, stock_database
from tracemesh_common.database import Database
from tracemesh_common.migrations import upgrade


def unreachable_urls() -> list[str]:
    base = POSTGRES_URL.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://", 1)
    return [
        # The server answers, but the database does not exist: asyncpg raises its own error, unwrapped.
        f"{base}/tracemesh_no_such_database",
        # Nothing listens on the port at all.
        f"postgresql+asyncpg://postgres@127.0.0.1:{free_port()}/test",
    ]


async def orders_read(url: str) -> None:
    await OrderRepository(orders_database(url)).list_recent(5)


async def orders_ping(url: str) -> None:
    await orders_database(url).ping()


async def inventory_reserve(url: str) -> None:
    await StockRepository(stock_database(url)).reserve("order-1", "BOOK-001", 1)


async def inventory_ping(url: str) -> None:
    await stock_database(url).ping()


@pytest.mark.postgres
@pytest.mark.parametrize("url", unreachable_urls(), ids=["unknown-database", "nothing-listening"])
@pytest.mark.parametrize(
    ("call", "outage"),
    [
        (orders_ping, StoreUnavailable),
        (orders_read, StoreUnavailable),
        (inventory_ping, StockStoreUnavailable),
        (inventory_reserve, StockStoreUnavailable),
    ],
    ids=["orders-ping", "orders-read", "inventory-ping", "inventory-reserve"],
)
async def test_repositories_report_an_outage(
    postgres_reachable: None, url: str, call: Callable[[str], Awaitable[None]], outage: type[Exception]
) -> None:
    with pytest.raises(outage):
        await call(url)


async def orders_schema(url: str) -> None:
    database = orders_database(url)
    try:
        await upgrade(database.engine, "orders")
    finally:
        await database.dispose()


async def inventory_schema(url: str) -> None:
    database = stock_database(url)
    try:
        await upgrade(database.engine, "inventory")
    finally:
        await database.dispose()


async def orders_list(database: Database) -> None:
    await OrderRepository(database).list_recent(5)


async def inventory_list(database: Database) -> None:
    await StockRepository(database).list_products()


@pytest.mark.parametrize(
    ("schema", "database_for", "call", "outage"),
    [
        (orders_schema, orders_database, orders_list, StoreUnavailable),
        (inventory_schema, stock_database, inventory_list, StockStoreUnavailable),
    ],
    ids=["orders", "inventory"],
)
async def test_a_pool_with_no_connection_free_is_an_outage(
    tmp_path_factory: pytest.TempPathFactory,
    schema: Callable[[str], Awaitable[None]],
    database_for: Callable[..., Database],
    call: Callable[[Database], Awaitable[None]],
    outage: type[Exception],
) -> None:
    """Every pooled connection busy past the pool's timeout: the database is as good as down for this call."""
    url = f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('pool')}/busy.db"
    await schema(url)
    database = database_for(url, pool_size=1, max_overflow=0, pool_timeout=0.1)
    try:
        async with database.engine.connect():  # the pool's only connection, held
            with pytest.raises(outage):
                await call(database)
    finally:
        await database.dispose()


@pytest.mark.postgres
@pytest.mark.parametrize(
    ("schema", "table", "call", "outage"),
    [
        (orders_schema, "orders", orders_read, StoreUnavailable),
        (inventory_schema, "products", inventory_reserve, StockStoreUnavailable),
    ],
    ids=["orders", "inventory"],
)
def test_a_connection_lost_mid_statement_is_an_outage(
    postgres_reachable: None,
    schema: Callable[[str], Awaitable[None]],
    table: str,
    call: Callable[[str], Awaitable[None]],
    outage: type[Exception],
) -> None:
    """The server ends the connection while a statement is in flight (what a restart or a failover does):
    asyncpg raises ConnectionDoesNotExistError, which SQLAlchemy alone would turn into a bare DBAPIError."""

    async def end_the_connection_mid_statement(url: str) -> None:
        await schema(url)
        dsn = url.replace("postgresql+asyncpg://", "postgresql://", 1)
        locker, watcher = await asyncpg.connect(dsn), await asyncpg.connect(dsn)
        try:
            # The statement waits for this lock, so it is in flight when its connection is ended.
            await locker.execute(f"BEGIN; LOCK TABLE {table} IN ACCESS EXCLUSIVE MODE")
            statement = asyncio.create_task(call(url))
            # Watched from outside the locker's transaction, which would see one snapshot of the activity.
            for _ in range(500):
                waiting = await watcher.fetchval(
                    "SELECT pid FROM pg_stat_activity"
                    " WHERE datname = current_database() AND wait_event_type = 'Lock'"
                )
                if waiting:
                    break
                await asyncio.sleep(0.02)
            else:
                pytest.fail("the statement never came to wait for the lock")
            await watcher.execute("SELECT pg_terminate_backend($1)", waiting)
            with pytest.raises(outage):
                await statement
        finally:
            await locker.close()
            await watcher.close()

    with postgres_database("down") as url:
        asyncio.run(end_the_connection_mid_statement(url))


@pytest.mark.postgres
def test_a_cancelled_statement_stays_a_cancellation(postgres_reachable: None) -> None:
    """A caller that gives up cancels the task mid-statement; SQLAlchemy counts that connection as lost too,
    but the cancellation must reach the caller as one (gRPC marks the span cancelled), not as an outage."""

    async def cancel_mid_statement(url: str) -> None:
        await orders_schema(url)
        locker = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://", 1))
        try:
            await locker.execute("BEGIN; LOCK TABLE orders IN ACCESS EXCLUSIVE MODE")
            statement = asyncio.create_task(orders_read(url))
            await asyncio.sleep(0.5)  # long enough to be waiting for the lock
            statement.cancel()
            with pytest.raises(asyncio.CancelledError):
                await statement
        finally:
            await locker.close()

    with postgres_database("cancel") as url:
        asyncio.run(cancel_mid_statement(url))


@pytest.mark.postgres
def test_a_bug_in_sql_is_not_an_outage(postgres_reachable: None) -> None:
    """No schema at all: PostgreSQL answers, the statement is wrong. That must stay an error, not a 503."""

    async def read_a_missing_table(url: str) -> None:
        database = orders_database(url)
        try:
            await OrderRepository(database).list_recent(5)
        finally:
            await database.dispose()

    with postgres_database("bug") as url, pytest.raises(ProgrammingError):
        asyncio.run(read_a_missing_table(url))


async def orders_write(database: Database, index: int) -> None:
    repository = OrderRepository(database)
    if index == 0:
        await upgrade(repository.database.engine, "orders")
    await repository.add(Order(f"order-{index}", "BOOK-001", 1, OrderStatus.PENDING, datetime.now(UTC)))


async def inventory_write(database: Database, index: int) -> None:
    repository = StockRepository(database)
    if index == 0:
        await upgrade(repository.database.engine, "inventory")
    await repository.reserve(f"order-{index}", "BOOK-001", 1)


@pytest.mark.parametrize(
    ("database_for", "write", "outage"),
    [
        (orders_database, orders_write, StoreUnavailable),
        (stock_database, inventory_write, StockStoreUnavailable),
    ],
    ids=["orders", "inventory"],
)
async def test_a_sqlite_file_writable_again_is_written_without_a_restart(
    tmp_path: Path,
    database_for: Callable[[str], Database],
    write: Callable[[Database, int], Awaitable[None]],
    outage: type[Exception],
) -> None:
    """A connection SQLite opened while the file could not be written is read-only for good: the pool must
    not keep it once a write fails, or the service refuses every write until it restarts."""
    if reason := unsupported(tmp_path):
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    folder = tmp_path / "db"
    folder.mkdir()
    database = database_for(f"sqlite+aiosqlite:///{folder}/store.db")
    try:
        await write(database, 0)
        # Another connection keeps the database open (as a service's other pooled connections do), so its
        # write-ahead log and shared memory stay; the next statement opens a new connection, while frozen.
        keeper = sqlite3.connect(folder / "store.db")
        keeper.execute("SELECT count(*) FROM sqlite_master").fetchall()
        await database.dispose()
        frozen = Frozen()
        try:
            for path in (folder / "store.db", folder / "store.db-wal", folder):
                if path.exists():
                    frozen.freeze(path)
            with pytest.raises(outage):
                await write(database, 1)
        finally:
            frozen.thaw()
            thaw_tree(tmp_path)
        await write(database, 2)  # the same engine and pool: the read-only connection is gone
        keeper.close()
    finally:
        await database.dispose()
