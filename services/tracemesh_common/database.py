"""A service's database: the async engine, its sessions, and an outage mapped to the service's own error.

    database = Database(settings.database_url, unavailable=lambda: StoreUnavailable("orders database ..."))
    async with database.session() as session: ...        # reads
    async with database.transaction() as session: ...    # writes, committed on the way out

Every statement made through either raises the service's own "unavailable" error (a 503 or UNAVAILABLE at
the transport edge) when the database cannot be reached, and nothing else: anything else is a bug.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager, nullcontext
from pathlib import Path
from typing import Any

from opentelemetry.instrumentation.utils import is_instrumentation_enabled, suppress_instrumentation
from sqlalchemy import event, make_url, select
from sqlalchemy.engine import ExceptionContext
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.orm import Session


class ConnectionLost(Exception):
    """The connection broke during a statement: the database stopped or restarted, or the network failed."""


# What "the database is unreachable" looks like: SQLAlchemy's errors for a lost or refused connection, a
# connection that broke mid-statement (see create_engine), no connection free in the pool within its
# timeout, the socket's own errors, and the driver's own errors (driver_errors). Anything else is a bug.
DATABASE_DOWN: tuple[type[BaseException], ...] = (
    OperationalError,
    InterfaceError,
    ConnectionLost,
    PoolTimeoutError,
    OSError,
)

# SQLite opens a file it cannot write read-only, silently, and the pool would keep that connection: every
# write through it fails ("attempt to write a readonly database") long after the file is writable again. A
# failed write to the file or its write-ahead log ("disk I/O error") can leave a connection the same. Either
# ends the connection, as a lost one would be.
SQLITE_STALE_CONNECTION = ("attempt to write a readonly database", "disk I/O error")
# How long a SQLite writer waits for the file's single write lock before it fails.
SQLITE_BUSY_TIMEOUT_SECONDS = 30


def driver_errors(driver: str) -> tuple[type[BaseException], ...]:
    """The errors a driver raises while connecting that reach us unwrapped: asyncpg's for an unknown
    database, a server starting up or out of connection slots. A driver is imported only when it is the one
    in use (SQLAlchemy's dialect has loaded it by then): a service on SQLite never loads asyncpg."""
    if driver == "asyncpg":
        import asyncpg

        return (asyncpg.PostgresError,)
    return ()


def create_engine(url: str, **options: Any) -> AsyncEngine:
    """An async engine for any SQLAlchemy URL: sqlite+aiosqlite:///path.db or postgresql+asyncpg://...
    `options` go to SQLAlchemy's create_async_engine (the pool's size and timeout, say)."""
    if url.startswith("sqlite"):
        database = make_url(url).database
        if database and database != ":memory:":
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_async_engine(url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_SECONDS}, **options)
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
    else:
        # pre-ping: a connection the server closed while idle in the pool is replaced, not handed out.
        engine = create_async_engine(url, pool_pre_ping=True, **options)
    event.listen(engine.sync_engine, "handle_error", _connection_lost)
    return engine


def _sqlite_pragmas(dbapi_connection, _record):  # type: ignore[no-untyped-def]
    cursor = dbapi_connection.cursor()
    # Readers do not block the writer, nor the writer the readers.
    cursor.execute("PRAGMA journal_mode=WAL")
    # With WAL, NORMAL syncs at checkpoints instead of every commit: safe against a crashed process, may
    # lose the last commits on power loss, and several times faster on slow disks.
    cursor.execute("PRAGMA synchronous=NORMAL")
    # SQLite ignores foreign keys unless each connection asks: without this, a key PostgreSQL enforces
    # would hold on one database and not the other.
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def _connection_lost(context: ExceptionContext) -> BaseException | None:
    # asyncpg reports a connection that broke mid-statement as a PostgresConnectionError, which SQLAlchemy
    # raises as a bare DBAPIError, the base class of every database error (a bug's too). Its own disconnect
    # check is precise: the driver's connection is closed. Left alone: the pool's pre-ping, which reconnects
    # by itself, and a cancelled task (SQLAlchemy counts its connection as lost too, but the cancellation
    # must go on up as a cancellation; it is no DBAPIError).
    if any(sign in str(context.original_exception) for sign in SQLITE_STALE_CONNECTION):
        context.is_disconnect = True  # the pool drops this connection; the next one opens read-write
    driver_error = isinstance(context.sqlalchemy_exception, DBAPIError)
    if context.is_disconnect and driver_error and not context.is_pre_ping:
        return ConnectionLost(str(context.original_exception))
    return None


class Database:
    """The engine and sessions of one service's database, with an outage raised as `unavailable()`."""

    def __init__(self, url: str, unavailable: Callable[[], Exception], **engine_options: Any) -> None:
        self.engine = create_engine(url, **engine_options)
        # The engine of the sessions that are traced: a second engine on the same pool, whose listeners are
        # its own (Telemetry.instrument_database attaches the statement tracing here); listeners on `engine`
        # hear the statements of both.
        self.traced_engine = self.engine.execution_options()
        self._unavailable = unavailable
        self._down = DATABASE_DOWN + driver_errors(self.engine.dialect.driver)
        # The Session class of this database's sessions: ORM events listened for on it apply here only.
        self.session_class: type[Session] = type("DatabaseSession", (Session,), {})
        # No engine of its own: each session is given one as it opens (_new_session).
        self._sessions = async_sessionmaker(expire_on_commit=False, sync_session_class=self.session_class)
        # SQLite takes one writer at a time. A second writer waits inside SQLite (the busy timeout) while
        # holding its connection's mutex; if the garbage collector then finalizes a statement of that
        # connection on the event loop's thread, the loop blocks on the mutex until the wait times out
        # (30 s), while the writer being waited for needs the loop to commit. So writers queue here, on the
        # event loop, and only one at a time is inside SQLite; PostgreSQL locks rows and needs none of this.
        self._one_writer: AbstractAsyncContextManager[object] = (
            asyncio.Lock() if self.engine.dialect.name == "sqlite" else nullcontext()
        )

    @asynccontextmanager
    async def session(self) -> AsyncIterator[AsyncSession]:
        """A session for reads (and writes the caller commits itself)."""
        async with self.outage_mapped(), self._new_session() as session:
            yield session

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncSession]:
        """A session in a transaction, committed when the block ends and rolled back if it raises."""
        async with self.outage_mapped(), self._one_writer, self._new_session() as session, session.begin():
            yield session

    def _new_session(self) -> AsyncSession:
        # docs-region: untraced-sessions
        # Where instrumentation is suppressed (a request the sampler left out, see unsampled.py) the tracing
        # listeners would each be called only to return at once: 50-175 µs of CPU a session. Such a session
        # goes through the plain engine, which has none.
        bind = self.traced_engine if is_instrumentation_enabled() else self.engine
        # docs-endregion: untraced-sessions
        return self._sessions(bind=bind)

    @asynccontextmanager
    async def outage_mapped(self) -> AsyncIterator[None]:
        """Raises the service's own error in place of any sign that the database is unreachable."""
        try:
            yield
        except self._down as error:
            raise self._unavailable() from error

    async def ping(self) -> None:
        """Raises the service's "unavailable" error unless the database answers. Not traced: probes run
        every few seconds and would each make a one-span trace that no request caused."""
        # docs-region: ping-untraced
        with suppress_instrumentation():
            async with self.outage_mapped(), self.engine.connect() as connection:
                await connection.execute(select(1))
        # docs-endregion: ping-untraced

    async def dispose(self) -> None:
        await self.engine.dispose()
