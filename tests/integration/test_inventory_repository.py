"""inventory's repository on a real database: a refusal is kept under the reservation id, so no later or
concurrent attempt with that id can take stock once it was refused."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Coroutine
from contextlib import asynccontextmanager, suppress
from typing import Any

import pytest
from sqlalchemy import event, func, select, update

from inventory.domain import InsufficientStock, Reservation, ReservationConflict, UnknownProduct
from inventory.models import ProductRow, RefusalRow, ReservationRow
from inventory.repository import StockRepository
from tests.support import LoopThread, postgres_database, require_postgres, stock_database
from tracemesh_common.database import Database
from tracemesh_common.migrations import upgrade


@asynccontextmanager
async def repository(database_url: str) -> AsyncIterator[StockRepository]:
    database = stock_database(database_url)
    try:
        stock = StockRepository(database)
        await upgrade(stock.database.engine, "inventory")
        yield stock
    finally:
        await database.dispose()


async def set_stock(database_url: str, sku: str, stock: int) -> None:
    """Creates the schema if need be, then sets the product's stock."""
    database = stock_database(database_url)
    try:
        await upgrade(database.engine, "inventory")
        async with database.engine.begin() as connection:
            await connection.execute(update(ProductRow).where(ProductRow.sku == sku).values(stock=stock))
    finally:
        await database.dispose()


async def recorded(database_url: str, reservation_id: str) -> tuple[int, int, int]:
    """How many reservations and refusals the id has, and LAMP-9's stock."""
    database = stock_database(database_url)
    try:
        async with database.engine.connect() as connection:
            reservations = await connection.scalar(
                select(func.count()).select_from(ReservationRow).where(ReservationRow.id == reservation_id)
            )
            refusals = await connection.scalar(
                select(func.count()).select_from(RefusalRow).where(RefusalRow.id == reservation_id)
            )
            stock = await connection.scalar(select(ProductRow.stock).where(ProductRow.sku == "LAMP-9"))
    finally:
        await database.dispose()
    assert reservations is not None
    assert refusals is not None
    assert stock is not None
    return reservations, refusals, stock


async def test_a_refused_id_stays_refused_after_a_restock(database_url: str) -> None:
    async with repository(database_url) as stock:
        with pytest.raises(InsufficientStock) as first:
            await stock.reserve("late-order", "LAMP-9", 6)  # 5 in stock
        with pytest.raises(InsufficientStock) as retried:
            await stock.reserve("late-order", "LAMP-9", 6)
        await stock.restock({"LAMP-9": 45}, {"LAMP-9": 50})
        # An earlier attempt with the same id, held up until now: it finds the refusal, takes nothing.
        with pytest.raises(InsufficientStock) as again:
            await stock.reserve("late-order", "LAMP-9", 6)
        assert {str(first.value), str(retried.value), str(again.value)} == {
            "6 of 'LAMP-9' requested, 5 in stock"
        }
        with pytest.raises(ReservationConflict):
            await stock.reserve("late-order", "LAMP-9", 2)
        assert (await stock.get_product("LAMP-9")).stock == 50
    assert await recorded(database_url, "late-order") == (0, 1, 50)


async def test_an_unknown_sku_is_refused_the_same_way_every_time(database_url: str) -> None:
    async with repository(database_url) as stock:
        for _ in range(2):
            with pytest.raises(UnknownProduct, match="NOPE"):
                await stock.reserve("order-nope", "NOPE", 1)
        with pytest.raises(ReservationConflict):
            await stock.reserve("order-nope", "LAMP-9", 1)
    assert (await recorded(database_url, "order-nope"))[:2] == (0, 1)


async def test_a_reserved_id_is_answered_as_reserved_after_the_stock_ran_out(database_url: str) -> None:
    async with repository(database_url) as stock:
        first = await stock.reserve("kept-order", "LAMP-9", 2)
        await stock.reserve("other-order", "LAMP-9", 3)
        again = await stock.reserve("kept-order", "LAMP-9", 2)  # 0 left: the UPDATE matches no row
        assert (first.replayed, again.replayed) == (False, True)
        assert again.remaining_stock == 0
    assert await recorded(database_url, "kept-order") == (1, 0, 0)


def hold(database: Database, statement_part: str) -> tuple[threading.Event, threading.Event]:
    """Holds up the first statement of `database` that contains `statement_part`, in the middle of its
    transaction, until released: returns (reached, release). The database's loop must serve nothing else."""
    reached, release = threading.Event(), threading.Event()

    @event.listens_for(database.engine.sync_engine, "before_cursor_execute")
    def _hold(*args: Any) -> None:
        if statement_part in args[2] and not reached.is_set():
            reached.set()
            release.wait(10)

    return reached, release


def outcome(future: Any) -> Reservation | Exception:
    try:
        result: Reservation = future.result(30)
    except Exception as error:
        return error
    return result


def run_in(loop: LoopThread, coroutine: Coroutine[Any, Any, Any]) -> Any:
    return asyncio.run_coroutine_threadsafe(coroutine, loop.loop)


def test_concurrent_attempts_with_one_id_never_both_reserve_and_refuse(database_url: str) -> None:
    """A refusal is being recorded while stock comes back and another attempt with the same id arrives:
    the product's row lock makes the restock and that attempt wait, so the attempt finds the refusal.
    Without the lock, it would reserve beside the refusal, holding stock for an order told it was refused."""
    asyncio.run(set_stock(database_url, "LAMP-9", 0))
    refusing, other = LoopThread(), LoopThread()
    refusing_database, other_database = stock_database(database_url), stock_database(database_url)
    try:
        reached, release = hold(refusing_database, "INSERT INTO refusals")
        first = run_in(refusing, StockRepository(refusing_database).reserve("order-x", "LAMP-9", 1))
        assert reached.wait(10), "the first attempt never came to record its refusal"

        async def restock_then_retry() -> Reservation:
            stock = StockRepository(other_database)
            await stock.restock({"LAMP-9": 1}, {"LAMP-9": 1})
            return await stock.reserve("order-x", "LAMP-9", 1)

        second = run_in(other, restock_then_retry())
        with suppress(TimeoutError):
            second.result(1)  # (the lock keeps it waiting: the time-out is expected)
        release.set()
        outcomes = [outcome(first), outcome(second)]
    finally:
        release.set()
        refusing.run(refusing_database.dispose())
        other.run(other_database.dispose())
        refusing.close()
        other.close()
    assert [type(o) for o in outcomes] == [InsufficientStock, InsufficientStock], outcomes
    assert asyncio.run(recorded(database_url, "order-x")) == (0, 1, 1)  # restocked, and nothing taken


@pytest.mark.postgres
def test_stock_back_before_the_lock_is_taken_not_refused() -> None:
    """PostgreSQL only (SQLite's first UPDATE already holds the write lock, so no restock can come between):
    the UPDATE finds too little stock, a restock commits before the row lock is taken, and the attempt
    reserves instead of reporting a refusal with enough stock in hand."""
    require_postgres()
    with postgres_database("it") as database_url:
        asyncio.run(set_stock(database_url, "LAMP-9", 0))
        loop, database = LoopThread(), stock_database(database_url)
        try:
            reached, release = hold(database, "FOR UPDATE")
            attempt = run_in(loop, StockRepository(database).reserve("order-y", "LAMP-9", 1))
            assert reached.wait(10), "the attempt never came to lock the product's row"
            asyncio.run(set_stock(database_url, "LAMP-9", 1))
            release.set()
            result = outcome(attempt)
        finally:
            release.set()
            loop.run(database.dispose())
            loop.close()
        assert isinstance(result, Reservation), result
        assert asyncio.run(recorded(database_url, "order-y")) == (1, 0, 0)
