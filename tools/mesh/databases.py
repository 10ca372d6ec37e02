"""Fresh PostgreSQL databases for a test run or a benchmark mesh, dropped afterwards."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import asyncpg

# A server where this role may create databases: the one `make postgres` (.ci/postgres) sets up.
DEFAULT_POSTGRES_URL = "postgresql://tracemesh:tracemesh@127.0.0.1:5432/tracemesh"
POSTGRES_URL = os.environ.get("TRACEMESH_TEST_POSTGRES_URL", DEFAULT_POSTGRES_URL)


def sqlite_urls(directory: Path) -> tuple[str, str]:
    """orders' and inventory's SQLite files in `directory` (created on first use)."""
    return f"sqlite+aiosqlite:///{directory}/orders.db", f"sqlite+aiosqlite:///{directory}/inventory.db"


@contextmanager
def mesh_databases(kind: str, directory: Path, label: str) -> Iterator[tuple[str, str]]:
    """Fresh orders and inventory databases for one mesh: SQLite files in `directory`, or two new
    PostgreSQL databases named after `label` (dropped on the way out)."""
    if kind == "sqlite":
        yield sqlite_urls(directory)
        return
    with (
        postgres_database(f"{label}_orders") as orders_db,
        postgres_database(f"{label}_inventory") as inventory_db,
    ):
        yield orders_db, inventory_db


@contextmanager
def postgres_database(label: str) -> Iterator[str]:
    """A fresh database named after `label`, dropped on the way out; yields its SQLAlchemy async URL."""
    name = f"tracemesh_{label}_{uuid.uuid4().hex[:10]}"
    asyncio.run(admin(f'CREATE DATABASE "{name}"'))
    base, _, _ = POSTGRES_URL.rpartition("/")
    try:
        yield f"{base.replace('postgresql://', 'postgresql+asyncpg://', 1)}/{name}"
    finally:
        asyncio.run(admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


async def admin(statement: str) -> None:
    """Runs one statement on the server as the administrative user of POSTGRES_URL."""
    connection = await asyncpg.connect(POSTGRES_URL, timeout=5)
    try:
        await connection.execute(statement)
    finally:
        await connection.close()
