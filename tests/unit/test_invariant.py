"""The fault suite's invariant checker: it must see a break when there is one."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import create_async_engine

from chaos import invariant
from inventory import models as inventory_models
from inventory.catalogue import CATALOGUE
from orders import models as orders_models

START = datetime(2026, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class Placed:
    """An order in orders' database, under `key` unless None."""

    id: str
    sku: str
    quantity: int
    status: str = "confirmed"
    key: str | None = "k1"


def fill(
    tmp_path: Path,
    *,
    stock: dict[str, int] | None = None,
    reservations: tuple[tuple[str, str, int, int], ...] = (),
    restocks: tuple[tuple[str, int, int], ...] = (),
    orders: tuple[Placed, ...] = (),
) -> tuple[str, str]:
    """Both databases as the services leave them: each product's stock (the catalogue's unless given),
    reservations as (id, sku, quantity, second) and restocks as (sku, units, second), each recorded that many
    seconds after START, and the orders."""
    orders_db, inventory_db = f"sqlite+aiosqlite:///{tmp_path}/o.db", f"sqlite+aiosqlite:///{tmp_path}/i.db"
    levels = {p.sku: p.stock for p in CATALOGUE} | (stock or {})

    async def write() -> None:
        for url, models in ((orders_db, orders_models), (inventory_db, inventory_models)):
            engine = create_async_engine(url)
            async with engine.begin() as connection:
                await connection.run_sync(models.Base.metadata.create_all)
            await engine.dispose()
        engine = create_async_engine(inventory_db)
        async with engine.begin() as connection:
            # As a database without its stock_not_negative constraint would take it: stock can go below 0.
            await connection.exec_driver_sql("PRAGMA ignore_check_constraints = ON")
            for p in CATALOGUE:
                await connection.execute(
                    inventory_models.ProductRow.__table__.insert(),
                    {"sku": p.sku, "name": p.name, "stock": levels[p.sku]},
                )
            for rid, sku, quantity, second in reservations:
                await connection.execute(
                    inventory_models.ReservationRow.__table__.insert(),
                    {
                        "id": rid,
                        "sku": sku,
                        "quantity": quantity,
                        "created_at": START + timedelta(seconds=second),
                    },
                )
            for sku, units, second in restocks:
                await connection.execute(
                    inventory_models.RestockRow.__table__.insert(),
                    {"sku": sku, "quantity": units, "created_at": START + timedelta(seconds=second)},
                )
        await engine.dispose()
        engine = create_async_engine(orders_db)
        async with engine.begin() as connection:
            for order in orders:
                row = {"id": order.id, "sku": order.sku, "quantity": order.quantity, "created_at": START}
                await connection.execute(
                    orders_models.OrderRow.__table__.insert(), row | {"status": order.status}
                )
                if order.key is not None:
                    await connection.execute(
                        orders_models.IdempotencyKeyRow.__table__.insert(),
                        {"key": order.key, "order_id": order.id},
                    )
        await engine.dispose()

    asyncio.run(write())
    return orders_db, inventory_db


def databases(
    tmp_path: Path, *, stock_taken: int, confirmed: bool, restocked: int = 0, keyed: bool = True
) -> tuple[str, str]:
    """One order of `stock_taken` BOOK-001, reserved in inventory, and `confirmed` or left pending; placed
    with an idempotency key unless not `keyed`."""
    return fill(
        tmp_path,
        stock={"BOOK-001": 100 - stock_taken + restocked},
        reservations=(("o1", "BOOK-001", 2, 1),),
        restocks=(("BOOK-001", restocked, 2),) if restocked else (),
        orders=(
            Placed("o1", "BOOK-001", 2, "confirmed" if confirmed else "pending", "k1" if keyed else None),
        ),
    )


@pytest.mark.parametrize("restocked", [0, 7])
def test_stock_and_confirmed_orders_that_agree_hold(tmp_path: Path, restocked: int) -> None:
    verdict = invariant.check(*databases(tmp_path, stock_taken=2, confirmed=True, restocked=restocked))
    assert verdict == invariant.Verdict(True, [], 0)


def test_stock_taken_twice_breaks_it(tmp_path: Path) -> None:
    verdict = invariant.check(*databases(tmp_path, stock_taken=4, confirmed=True))
    assert not verdict.holds
    assert verdict.problems == [
        "BOOK-001: 100 at start - 2 reserved + 0 restocked = 98, but 96 in stock",
        "BOOK-001: 100 in, 96 left + 2 confirmed",
    ]


def test_a_reservation_of_an_order_not_confirmed_breaks_it(tmp_path: Path) -> None:
    verdict = invariant.check(*databases(tmp_path, stock_taken=2, confirmed=False))
    assert not verdict.holds
    assert "1 reservations without a confirmed order" in verdict.problems
    assert verdict.pending == 1


def test_an_order_without_its_idempotency_key_breaks_it(tmp_path: Path) -> None:
    verdict = invariant.check(*databases(tmp_path, stock_taken=2, confirmed=True, keyed=False))
    assert verdict == invariant.Verdict(False, ["1 orders without an idempotency key"], 0)
    # Unless orders without a key are expected (a client that sends none).
    (tmp_path / "unkeyed").mkdir()
    assert invariant.check(
        *databases(tmp_path / "unkeyed", stock_taken=2, confirmed=True, keyed=False), every_order_keyed=False
    ).holds


def test_a_restock_recorded_but_not_added_breaks_the_ledger(tmp_path: Path) -> None:
    verdict = invariant.check(
        *fill(
            tmp_path,
            stock={"MUG-042": 38},
            reservations=(("o1", "MUG-042", 2, 1),),
            restocks=(("MUG-042", 2, 2),),
            orders=(Placed("o1", "MUG-042", 2),),
        )
    )
    assert verdict.problems == [
        "MUG-042: 40 at start - 2 reserved + 2 restocked = 40, but 38 in stock",
        "MUG-042: 42 in, 38 left + 2 confirmed",
    ]


def test_a_reservation_of_another_quantity_than_its_order_breaks_it(tmp_path: Path) -> None:
    # inventory's ledger adds up (40 - 3 = 37); the order says 2.
    verdict = invariant.check(
        *fill(
            tmp_path,
            stock={"MUG-042": 37},
            reservations=(("o1", "MUG-042", 3, 1),),
            orders=(Placed("o1", "MUG-042", 2),),
        )
    )
    assert verdict.problems == [
        "MUG-042: 40 in, 37 left + 2 confirmed",
        "1 reservations of another sku or quantity than their order's",
    ]


def test_negative_stock_breaks_it_though_every_count_agrees(tmp_path: Path) -> None:
    # LAMP-9 starts with 5; an order of 7 was reserved and confirmed: the counts agree, the stock is -2.
    verdict = invariant.check(
        *fill(
            tmp_path,
            stock={"LAMP-9": -2},
            reservations=(("o1", "LAMP-9", 7, 1),),
            orders=(Placed("o1", "LAMP-9", 7),),
        )
    )
    assert verdict == invariant.Verdict(
        False, ["LAMP-9: -2 in stock", "LAMP-9: oversold, stock -2 after reservation o1"], 0
    )


@pytest.mark.parametrize(
    ("reserved_at", "restocked_at", "holds"), [(1, 2, False), (2, 1, True), (1, 1, True)]
)
def test_stock_oversold_then_restocked_is_seen_in_the_ledger_s_time_order(
    tmp_path: Path, reserved_at: int, restocked_at: int, holds: bool
) -> None:
    # 5 - 7 + 7 = 5 either way; only the order of the two says whether the stock went to -2 meanwhile.
    verdict = invariant.check(
        *fill(
            tmp_path,
            reservations=(("o1", "LAMP-9", 7, reserved_at),),
            restocks=(("LAMP-9", 7, restocked_at),),
            orders=(Placed("o1", "LAMP-9", 7),),
        )
    )
    assert verdict.problems == ([] if holds else ["LAMP-9: oversold, stock -2 after reservation o1"])


@pytest.mark.parametrize(
    ("answered", "status", "holds"),
    [({"k1": "o1"}, "confirmed", True), ({"k1": "o1"}, "failed", False), ({"k2": "o1"}, "confirmed", False)],
)
def test_an_order_answered_201_must_be_confirmed_under_its_key(
    tmp_path: Path, answered: dict[str, str], status: str, holds: bool
) -> None:
    confirmed = status == "confirmed"
    verdict = invariant.check(
        *fill(
            tmp_path,
            stock={"BOOK-001": 98 if confirmed else 100},
            reservations=(("o1", "BOOK-001", 2, 1),) if confirmed else (),
            orders=(Placed("o1", "BOOK-001", 2, status),),
        ),
        answered=answered,
    )
    assert verdict.problems == ([] if holds else ["1 orders answered 201 not confirmed under their key"])
