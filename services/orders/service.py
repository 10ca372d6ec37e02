"""orders' business rules: how an order is placed, and what it may be."""

from __future__ import annotations

import logging
import re
import uuid
from collections import Counter
from dataclasses import replace
from datetime import datetime, timedelta

from opentelemetry import trace
from opentelemetry.context import Context

from orders.domain import (
    IdempotencyConflict,
    InsufficientStock,
    InvalidOrder,
    InventoryUnavailable,
    Order,
    OrderNotFound,
    OrderRejected,
    OrderStatus,
    Product,
    UnknownProduct,
)
from orders.inventory_client import InventoryClient
from orders.repository import OrderRepository, utcnow

# The shape of a sku: also what keeps control characters and other junk out of the databases.
SKU = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
# A client's idempotency key: a UUID is the usual choice; anything of this shape is accepted.
IDEMPOTENCY_KEY = re.compile(r"[A-Za-z0-9._:-]{1,64}")
MAX_LIST_LIMIT = 100
DEFAULT_LIST_LIMIT = 20
# How many pending orders one run of the settling sweep takes on.
SETTLE_PAGE_SIZE = 100

logger = logging.getLogger(__name__)


class OrderService:
    def __init__(
        self, repository: OrderRepository, inventory: InventoryClient, tracer: trace.Tracer | None = None
    ) -> None:
        self._repository = repository
        self._inventory = inventory
        self._tracer = tracer or trace.NoOpTracer()
        # Where the settling sweep's next page starts: after this (created_at, id), or at the oldest.
        self._sweep_after: tuple[datetime, str] | None = None

    async def create_order(
        self, sku: str, quantity: int, *, deadline: float | None = None, idempotency_key: str | None = None
    ) -> Order:
        """Places an order: store it as pending, reserve its stock, then record the outcome.

        The order is written before the reservation so that its id can key the reservation: whatever
        happens in between, a retry with the same id can never take stock twice. `deadline` is when the
        caller stops waiting (time.monotonic() seconds); the calls to inventory stay within it.

        With an `idempotency_key`, a repeated request (a client retrying after a timeout or a 503) gets
        the order the key first created, and finishes it if it was left pending or failed, instead of
        placing a second order.
        """
        if not SKU.fullmatch(sku):
            raise InvalidOrder("sku must be 1 to 64 letters, digits, '.', '_' or '-'")
        if quantity < 1:
            raise InvalidOrder("quantity must be at least 1")
        if idempotency_key is not None and not IDEMPOTENCY_KEY.fullmatch(idempotency_key):
            raise InvalidOrder("an idempotency key is 1 to 64 letters, digits, '.', '_', ':' or '-'")
        if idempotency_key is not None and (earlier := await self._repository.find_by_key(idempotency_key)):
            return await self._repeat(earlier, sku, quantity, deadline)
        order = Order(str(uuid.uuid4()), sku, quantity, OrderStatus.PENDING, utcnow())
        if not await self._repository.add(order, idempotency_key):
            # A concurrent request with the same key stored its order first: this one repeats it.
            assert idempotency_key is not None
            earlier = await self._repository.find_by_key(idempotency_key)
            if earlier is None:  # the other request's transaction rolled back after all
                raise InventoryUnavailable("a concurrent request with this key failed", outcome_unknown=False)
            return await self._repeat(earlier, sku, quantity, deadline)
        return await self._reserve(order, deadline)

    async def settle(self, settle_after_seconds: float) -> dict[OrderStatus, int]:
        """One run of the settling sweep (a background job): finishes the orders still pending this long after
        they were placed. A run that settles something is a trace of its own, its root span started in an
        empty context (no request caused it); a run that finds nothing pending makes no trace."""
        pending = await self.pending_to_settle(utcnow() - timedelta(seconds=settle_after_seconds))
        if not pending:
            return {}
        with self._tracer.start_as_current_span("settle pending orders", context=Context()) as span:
            settled = await self.settle_pending(pending)
            span.set_attributes({f"tracemesh.orders.{status}": n for status, n in settled.items()})
            logger.info("settled pending orders: %s", settled)  # inside the span: the line names its trace
        return settled

    async def pending_to_settle(
        self, created_before: datetime, *, limit: int = SETTLE_PAGE_SIZE
    ) -> list[Order]:
        """The settling sweep's next page: orders created before then and still pending, oldest first.

        Each page starts past the one before, so orders that fail again and again (inventory timing out on
        them, say) cannot hold the sweep at the head of the queue while newer ones wait behind them; a page
        shorter than `limit` means the end was reached, and the next starts from the oldest again. Read
        untraced: a run that finds nothing must make no trace.
        """
        page = await self._repository.list_pending(created_before, limit, after=self._sweep_after)
        self._sweep_after = (page[-1].created_at, page[-1].id) if len(page) == limit else None
        return page

    async def settle_pending(self, pending: list[Order]) -> dict[OrderStatus, int]:
        """Finishes orders left pending (inventory's answer was lost) by reserving again under their id:
        inventory answers a reservation it already made without taking stock twice, and a refusal with the
        same refusal, so each ends confirmed or rejected, and stays pending only while inventory is
        unreachable. Returns how many orders ended in each status."""
        settled: Counter[OrderStatus] = Counter()
        for order in pending:
            try:
                settled[(await self._reserve(order, None, earlier_attempt=True)).status] += 1
            except (UnknownProduct, InsufficientStock):
                settled[OrderStatus.REJECTED] += 1
            except InventoryUnavailable:
                settled[OrderStatus.PENDING] += 1
        return dict(settled)

    async def _repeat(self, earlier: Order, sku: str, quantity: int, deadline: float | None) -> Order:
        """Answers a repeated request with the order its key created."""
        if (earlier.sku, earlier.quantity) != (sku, quantity):
            raise IdempotencyConflict(earlier.id)
        if earlier.status is OrderStatus.REJECTED:
            raise OrderRejected(earlier.id)
        if earlier.status is OrderStatus.CONFIRMED:
            return earlier
        # Pending (the outcome unknown) or failed (certainly nothing reserved): reserving again under the
        # order's id is safe either way, and finishes the order the client asked for.
        return await self._reserve(earlier, deadline, earlier_attempt=earlier.status is OrderStatus.PENDING)

    async def _reserve(self, order: Order, deadline: float | None, *, earlier_attempt: bool = False) -> Order:
        """Reserves the stock of a stored order and records the outcome. `earlier_attempt`: the order is
        pending from an attempt whose outcome was lost (it may hold a reservation already)."""
        try:
            await self._inventory.reserve(order.id, order.sku, order.quantity, deadline=deadline)
        except (UnknownProduct, InsufficientStock):
            await self._repository.set_status(order.id, OrderStatus.REJECTED)
            raise
        except InventoryUnavailable as error:
            if error.outcome_unknown:
                # The reservation may have been made before the answer was lost: the order is pending
                # until a repeated request or the settling sweep reserves again under its id.
                if order.status is not OrderStatus.PENDING:
                    await self._repository.set_status(order.id, OrderStatus.PENDING)
            elif not earlier_attempt:
                await self._repository.set_status(order.id, OrderStatus.FAILED)
            raise
        await self._repository.set_status(order.id, OrderStatus.CONFIRMED)
        return replace(order, status=OrderStatus.CONFIRMED)

    async def get_order(self, order_id: str) -> Order:
        try:
            uuid.UUID(order_id)
        except ValueError:
            raise OrderNotFound(order_id) from None  # not an id this service ever gave out
        return await self._repository.get(order_id)

    async def list_orders(self, limit: int) -> list[Order]:
        if limit == 0:
            limit = DEFAULT_LIST_LIMIT
        if not 1 <= limit <= MAX_LIST_LIMIT:
            raise InvalidOrder(f"limit must be between 1 and {MAX_LIST_LIMIT}")
        return await self._repository.list_recent(limit)

    async def list_products(self, *, deadline: float | None = None) -> list[Product]:
        return await self._inventory.list_products(deadline=deadline)
