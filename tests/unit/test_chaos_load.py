"""The fault suite's tally: how each answer is sorted, a key answered with two orders, phase latency."""

from __future__ import annotations

import httpx
import pytest

from tools.chaos.load import Tally

TRACE = "0af7651916cd43dd8448eb211c80319c"


def created(order_id: str) -> httpx.Response:
    return httpx.Response(
        201, json={"id": order_id}, headers={"traceresponse": f"00-{TRACE}-b7ad6b7169203331-01"}
    )


def error(status: int, code: str, *, trace_id: bool = True) -> httpx.Response:
    body: dict[str, str] = {"code": code, "message": "something"}
    if trace_id:
        body["trace_id"] = TRACE
    return httpx.Response(status, json={"error": body})


def test_successes_and_documented_refusals_are_sorted_apart() -> None:
    tally = Tally()
    tally.count(created("o1"), key="k1")
    tally.count(error(503, "unavailable"), key="k2")
    tally.count(error(409, "insufficient_stock"), key="k3")
    tally.count(error(503, "unavailable", trace_id=False), key="k4")
    tally.count(None, "ConnectError: refused", key="k5")
    tally.count(created("o6"), key="k6", seconds=7.0)
    assert (tally.sent, tally.succeeded, tally.failed_cleanly, tally.failed_badly) == (6, 1, 2, 3)
    assert tally.traces == [TRACE]
    assert tally.bad[1:] == ["ConnectError: refused", "answered after 7.0 s"]


def test_a_rejected_order_is_a_clean_answer_only_to_a_repeat() -> None:
    tally = Tally()
    tally.count(error(409, "order_rejected"), key="k1")
    tally.count(error(409, "order_rejected"), key="k1", repeat=True)
    assert (tally.failed_badly, tally.failed_cleanly, tally.repeats) == (1, 1, 1)


def test_a_key_answered_with_two_orders_is_caught() -> None:
    tally = Tally()
    tally.count(created("o1"), key="k1")
    tally.count(created("o1"), key="k1", repeat=True)
    assert tally.keys_with_two_orders == 0
    tally.count(created("o2"), key="k1", repeat=True)
    assert tally.keys_with_two_orders == 1
    assert tally.bad == ["key k1 answered with orders o1 and o2"]


def test_latency_covers_the_requests_sent_in_the_phase() -> None:
    tally = Tally()
    for second in range(100):  # sent at 0..99 s, each answered in (its second + 1) ms
        tally.count(
            created(f"o{second}"), key=f"k{second}", sent_at=float(second), seconds=(second + 1) / 1000
        )
    healthy = tally.latency(0, 50)
    assert healthy is not None
    assert (healthy.p50_ms, healthy.p99_ms) == pytest.approx((25.5, 49.51))
    assert (healthy.per_second, healthy.answers) == (1.0, 50)
    assert tally.latency(200, 300) is None


def test_refusals_are_counted_from_a_given_instant() -> None:
    tally = Tally()
    tally.count(error(503, "unavailable"), key="k1", sent_at=1.0)
    tally.count(error(503, "unavailable"), key="k2", sent_at=5.0)
    tally.count(created("o3"), key="k3", sent_at=6.0)
    assert (tally.refused_since(0.0), tally.refused_since(2.0), tally.refused_since(5.5)) == (2, 1, 0)


def test_only_first_attempts_are_looked_for_in_the_traces() -> None:
    tally = Tally()
    tally.count(created("o1"), key="k1", repeat=True)
    assert (tally.succeeded, tally.traces) == (1, [])
