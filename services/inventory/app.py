"""inventory's app: its database, service and routes, one error shape, and tracing."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from fastapi import FastAPI

from inventory.domain import InsufficientStock, ReservationConflict, StoreUnavailable, UnknownProduct
from inventory.repository import StockRepository
from inventory.routes import router
from inventory.service import InventoryService
from inventory.settings import InventorySettings
from tracemesh_common.database import Database
from tracemesh_common.errors import add_error_handlers, error_responses
from tracemesh_common.tracing import Telemetry

# docs-region: inventory-errors
# A refusal is the caller's to act on (404, 409); a database that cannot be reached is this service's
# failure (503), and the only one recorded on the spans as an error.
STATUSES = {UnknownProduct: 404, InsufficientStock: 409, ReservationConflict: 409, StoreUnavailable: 503}
# docs-endregion: inventory-errors


def create_app(
    settings: InventorySettings,
    telemetry: Telemetry,
    repository: Callable[[Database], StockRepository] = StockRepository,
) -> FastAPI:
    """The inventory app, ready to serve; `repository` makes its repository from the database (the demo's
    has flaws). `app.state.service` is the service, for the jobs that run beside the requests."""
    database = Database(settings.database_url, lambda: StoreUnavailable("stock database unavailable"))
    # docs-region: inventory-instrument-database
    # A CLIENT span for each SQL statement. The schema is there already (`python -m inventory.migrate` runs
    # first), so no start-up statement makes a trace of its own that no request caused.
    telemetry.instrument_database(database)
    # docs-endregion: inventory-instrument-database
    stock = repository(database)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        yield
        await database.dispose()

    # FastAPI's built-in telemetry stays off: spans come from the contrib instrumentation below, the
    # same package on every service (and two layers would give each request two server spans).
    app = FastAPI(
        title="tracemesh inventory",
        lifespan=lifespan,
        responses=error_responses(400, 404, 409, 422, 503),
        telemetry={"tracing": False, "metrics": False, "logs": False, "auto_configure": False},
    )
    app.state.database = database
    app.state.service = InventoryService(stock, telemetry.tracer("inventory"))
    app.include_router(router)
    add_error_handlers(app, STATUSES)
    telemetry.instrument_fastapi(app)
    return app
