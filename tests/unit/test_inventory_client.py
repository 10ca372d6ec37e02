"""orders' InventoryClient against a scripted HTTP transport: error mapping and retries."""

from __future__ import annotations

import time

import httpx
import pytest

from orders.domain import InsufficientStock, InventoryUnavailable, UnknownProduct
from orders.inventory_client import InventoryClient


def client(
    *responses: httpx.Response | Exception, backoff: float = 0
) -> tuple[InventoryClient, list[httpx.Request]]:
    seen: list[httpx.Request] = []
    script = list(responses)

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        answer = script.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    http = httpx.AsyncClient(base_url="http://inventory", transport=httpx.MockTransport(handle))
    return InventoryClient(http, attempts=3, backoff_seconds=backoff), seen


def error(status: int, code: str) -> httpx.Response:
    return httpx.Response(status, json={"error": {"code": code, "message": f"{code}!", "trace_id": None}})


async def test_a_reservation_returns_the_remaining_stock() -> None:
    inventory, seen = client(httpx.Response(201, json={"remaining_stock": 7}))
    assert await inventory.reserve("order-1", "BOOK-001", 2) == 7
    assert seen[0].url.path == "/reservations"


@pytest.mark.parametrize(
    ("response", "raised"),
    [(error(404, "unknown_sku"), UnknownProduct), (error(409, "insufficient_stock"), InsufficientStock)],
)
async def test_refusals_map_to_domain_errors_without_retry(response: httpx.Response, raised: type) -> None:
    inventory, seen = client(response)
    with pytest.raises(raised, match="!"):
        await inventory.reserve("order-1", "BOOK-001", 2)
    assert len(seen) == 1


async def test_a_503_is_retried_with_the_same_reservation_id() -> None:
    inventory, seen = client(
        error(503, "store_unavailable"), httpx.Response(201, json={"remaining_stock": 1})
    )
    assert await inventory.reserve("order-1", "BOOK-001", 2) == 1
    assert [request.content for request in seen] == [seen[0].content] * 2


async def test_refused_connections_mean_nothing_was_sent() -> None:
    inventory, seen = client(*[httpx.ConnectError("refused")] * 3)
    with pytest.raises(InventoryUnavailable) as raised:
        await inventory.reserve("order-1", "BOOK-001", 2)
    assert len(seen) == 3
    assert raised.value.outcome_unknown is False


async def test_a_timeout_may_have_reached_inventory() -> None:
    inventory, _ = client(
        httpx.ConnectError("refused"), httpx.ReadTimeout("slow"), httpx.ConnectError("refused")
    )
    with pytest.raises(InventoryUnavailable) as raised:
        await inventory.reserve("order-1", "BOOK-001", 2)
    assert raised.value.outcome_unknown is True


@pytest.mark.parametrize(
    "response",
    [httpx.Response(400, text="<html>bad</html>"), error(404, "no_such_route"), error(422, "invalid")],
)
async def test_other_refusals_are_unavailable_and_certainly_reserved_nothing(
    response: httpx.Response,
) -> None:
    inventory, seen = client(response)
    with pytest.raises(InventoryUnavailable) as raised:
        await inventory.reserve("order-1", "BOOK-001", 2)
    assert raised.value.outcome_unknown is False
    assert len(seen) == 1


@pytest.mark.parametrize(
    "responses",
    [
        # A timeout, then a refusal of the retry: the first attempt may still have reserved.
        (httpx.ReadTimeout("slow"), error(409, "reservation_conflict")),
        (httpx.ReadTimeout("slow"), error(422, "invalid")),
        # A 500 may come after inventory committed.
        (httpx.Response(500, text="Internal Server Error"),),
    ],
)
async def test_an_outcome_once_unknown_stays_unknown(
    responses: tuple[httpx.Response | Exception, ...],
) -> None:
    inventory, _ = client(*responses)
    with pytest.raises(InventoryUnavailable) as raised:
        await inventory.reserve("order-1", "BOOK-001", 2)
    assert raised.value.outcome_unknown is True


async def test_retries_stop_at_the_callers_deadline() -> None:
    inventory, seen = client(*[error(503, "store_unavailable")] * 3, backoff=0.3)
    with pytest.raises(InventoryUnavailable):
        await inventory.reserve("order-1", "BOOK-001", 2, deadline=time.monotonic() + 0.8)
    # The first backoff (0.3 s) fits in the 0.7 s left (0.1 s is kept to answer); the second (0.6 s) does not.
    assert len(seen) == 2


async def test_no_time_left_means_no_call() -> None:
    inventory, seen = client(httpx.Response(201, json={"remaining_stock": 1}))
    with pytest.raises(InventoryUnavailable, match="no time left"):
        await inventory.reserve("order-1", "BOOK-001", 2, deadline=time.monotonic() + 0.05)
    assert seen == []


async def test_each_attempt_gets_at_most_what_is_left_of_the_deadline() -> None:
    inventory, seen = client(httpx.Response(201, json={"remaining_stock": 1}))
    await inventory.reserve("order-1", "BOOK-001", 2, deadline=time.monotonic() + 0.6)
    timeouts = seen[0].extensions["timeout"]
    assert 0 < timeouts["read"] <= 0.5
