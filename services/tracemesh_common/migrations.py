"""The schema of a service's database, by Alembic migrations: each service keeps its history in its own
`migrations/` package, and `python -m <service>.migrate` brings its database to the newest revision.

Nothing creates tables as a service starts: `make run`, compose (a one-shot service each) and Kubernetes
(an init container each) migrate first, so replicas never race to create a schema and a schema can evolve.

    python -m orders.migrate                       # upgrade ORDERS_DATABASE_URL to the newest revision
    python -m orders.migrate revision "add notes"  # a new revision, written from what the models changed
"""

from __future__ import annotations

import asyncio
import logging
import sys
from collections.abc import Sequence

from alembic import command, context
from alembic.config import Config
from sqlalchemy import Connection, MetaData, inspect
from sqlalchemy.ext.asyncio import AsyncEngine

from tracemesh_common.database import create_engine

logger = logging.getLogger(__name__)

# One number for every tracemesh service: on PostgreSQL, concurrent upgrades of one database (two replicas'
# init containers, say) take turns behind this advisory lock instead of racing.
_LOCK = 0x7472616365


def config(service: str) -> Config:
    """Alembic's configuration for a service: its history in the `<service>.migrations` package."""
    alembic_config = Config()
    alembic_config.set_main_option("script_location", f"{service}:migrations")
    return alembic_config


async def upgrade(engine: AsyncEngine, service: str, legacy_revision: str | None = None) -> None:
    """Brings the database to the newest revision of the service's history, in one transaction.

    `legacy_revision`: the revision a database made before migrations existed already matches (its tables
    were created at start-up); such a database is marked as being at it, then upgraded from there."""
    async with engine.begin() as connection:
        await connection.run_sync(_upgrade, service, legacy_revision)


def _upgrade(connection: Connection, service: str, legacy_revision: str | None) -> None:
    if connection.dialect.name == "postgresql":
        connection.exec_driver_sql(f"SELECT pg_advisory_xact_lock({_LOCK})")
    alembic_config = config(service)
    alembic_config.attributes["connection"] = connection
    tables = set(inspect(connection).get_table_names())
    if legacy_revision is not None and tables and "alembic_version" not in tables:
        logger.info("%s: a schema made before migrations, at revision %s", service, legacy_revision)
        command.stamp(alembic_config, legacy_revision)
    command.upgrade(alembic_config, "head")


def run_environment(metadata: MetaData) -> None:
    """The body of each service's migrations/env.py: runs the migrations on the connection `upgrade` (or
    `main`) hands over. SQLite cannot alter a table in place, so its migrations copy it ("batch" mode)."""
    connection: Connection = context.config.attributes["connection"]
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()


def main(service: str, url: str, argv: Sequence[str], legacy_revision: str | None = None) -> None:
    """`python -m <service>.migrate [revision MESSAGE]`: upgrade, or write a new revision from the models."""
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s %(message)s")
    engine = create_engine(url)

    async def run() -> None:
        try:
            if list(argv[:1]) == ["revision"] and len(argv) == 2:
                async with engine.begin() as connection:
                    await connection.run_sync(_revision, service, argv[1])
            elif not argv:
                await upgrade(engine, service, legacy_revision)
            else:
                sys.exit(f"usage: python -m {service}.migrate [revision MESSAGE]")
        finally:
            await engine.dispose()

    asyncio.run(run())


def _revision(connection: Connection, service: str, message: str) -> None:
    alembic_config = config(service)
    alembic_config.attributes["connection"] = connection
    command.revision(alembic_config, message=message, autogenerate=True)
