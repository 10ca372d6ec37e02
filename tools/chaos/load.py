"""A bounded load of concurrent orders, each answer sorted into: succeeded, failed cleanly, failed badly.

Half the clients repeat like a real client: on a 503 or a connection error they send the same order again
with the same Idempotency-Key, after a short back-off, until it is answered otherwise or the load ends.
"""

from __future__ import annotations

import asyncio
import random
import statistics
import time
import uuid
from dataclasses import dataclass, field

import httpx

SKUS = ["BOOK-001", "MUG-042", "SHIRT-7", "STICKER-3", "LAMP-9"]
# The gateway's deadline for orders is 5 s: an answer later than this, whatever it says, is a hang.
HANG_SECONDS = 6.5
# The answers that are clean failures here: every order names a real sku and a key of its own, so only an
# outage (503) or a product sold out between restocks (409) is expected.
CLEAN = {(503, "unavailable"), (409, "insufficient_stock")}
# A repeated key may also find its order rejected already (the settling sweep finished it meanwhile).
CLEAN_REPEATED = CLEAN | {(409, "order_rejected")}
# A repeating client's back-off: doubles from the first to the cap, each wait drawn between half and all.
FIRST_BACKOFF_SECONDS = 0.1
MAX_BACKOFF_SECONDS = 1.0


@dataclass(frozen=True)
class Latency:
    """Latency and rate of the answers to the requests sent in one phase of a run."""

    p50_ms: float
    p99_ms: float
    per_second: float
    answers: int


@dataclass
class Tally:
    sent: int = 0
    # Requests that left the client, counted by the HTTP client itself rather than as answers are sorted:
    # `sent` must come to the same, or an answer went unsorted (or was sorted twice).
    on_the_wire: int = 0
    succeeded: int = 0
    failed_cleanly: int = 0
    failed_badly: int = 0
    # The traces of the first attempts that succeeded, to look for their spans (a repeat may be answered
    # by orders alone, from the order its key already confirmed).
    traces: list[str] = field(default_factory=list)
    # A few of the bad answers, to say what went wrong.
    bad: list[str] = field(default_factory=list)
    # When each answered request was sent (time.monotonic()), how long its answer took in seconds, and
    # its status.
    timings: list[tuple[float, float, int]] = field(default_factory=list)
    # The repeating clients: requests that repeated a key, the keys repeated at least once, those of them
    # that ended in an order, and the keys that were answered with two different orders (must be none).
    repeats: int = 0
    keys_repeated: int = 0
    keys_ordered_after_repeating: int = 0
    keys_with_two_orders: int = 0
    order_of_key: dict[str, str] = field(default_factory=dict)

    def count(
        self,
        response: httpx.Response | None,
        problem: str = "",
        *,
        key: str,
        repeat: bool = False,
        sent_at: float = 0.0,
        seconds: float = 0.0,
    ) -> None:
        self.sent += 1
        self.repeats += repeat
        if response is not None:
            self.timings.append((sent_at, seconds, response.status_code))
        if seconds > HANG_SECONDS:
            response, problem = None, f"answered after {seconds:.1f} s"
        if response is not None and response.status_code == 201:
            self.succeeded += 1
            if not repeat:
                self.traces.append(response.headers["traceresponse"].split("-")[1])
            order_id = response.json()["id"]
            if self.order_of_key.setdefault(key, order_id) != order_id:
                self.keys_with_two_orders += 1
                self._note_bad(f"key {key} answered with orders {self.order_of_key[key]} and {order_id}")
        elif response is not None and _clean_failure(response, CLEAN_REPEATED if repeat else CLEAN):
            self.failed_cleanly += 1
        else:
            self.failed_badly += 1
            self._note_bad(problem or f"{response.status_code if response else '-'} {_text(response)}")

    def latency(self, start: float, end: float) -> Latency | None:
        """Of the requests sent between `start` and `end` (time.monotonic()); None if too few answered."""
        seconds = [taken for sent_at, taken, _ in self.timings if start <= sent_at < end]
        if len(seconds) < 2 or end <= start:
            return None
        cuts = statistics.quantiles(seconds, n=100, method="inclusive")
        return Latency(cuts[49] * 1000, cuts[98] * 1000, len(seconds) / (end - start), len(seconds))

    def refused_since(self, since: float) -> int:
        """How many requests sent after `since` (time.monotonic()) were answered 503."""
        return sum(1 for sent_at, _, status in self.timings if sent_at >= since and status == 503)

    def _note_bad(self, what: str) -> None:
        if len(self.bad) < 5:
            self.bad.append(what)


def _clean_failure(response: httpx.Response, clean: set[tuple[int, str]]) -> bool:
    """An expected refusal or outage, said the documented way: an error body with its code, a message and
    the trace id."""
    try:
        error = response.json()["error"]
    except (ValueError, KeyError, TypeError):
        return False
    return (
        (response.status_code, error.get("code")) in clean
        and bool(error.get("message"))
        and "trace_id" in error
    )


def _text(response: httpx.Response | None) -> str:
    return "" if response is None else response.text[:200]


def _worth_repeating(response: httpx.Response | None) -> bool:
    """What a real client retries: no answer at all, or a 503 (the gateway's word for "try again")."""
    return response is None or response.status_code == 503


async def drive(url: str, seconds: float, concurrency: int, tally: Tally) -> None:
    """Places orders from `concurrency` clients for `seconds`, each order with its own Idempotency-Key;
    every other client repeats an order that met a 503 or no answer, with the same key."""
    end = time.monotonic() + seconds

    async def send(
        client: httpx.AsyncClient, body: dict[str, object], key: str, repeat: bool
    ) -> httpx.Response | None:
        sent_at = time.monotonic()
        try:
            response = await client.post("/orders", json=body, headers={"Idempotency-Key": key})
        except httpx.HTTPError as error:  # no fault stops the gateway: it must always answer
            tally.count(None, f"{type(error).__name__}: {error}", key=key, repeat=repeat)
            return None
        tally.count(response, key=key, repeat=repeat, sent_at=sent_at, seconds=time.monotonic() - sent_at)
        return response

    async def client_loop(client: httpx.AsyncClient, repeats: bool) -> None:
        while time.monotonic() < end:
            body = {"sku": random.choice(SKUS), "quantity": 1}
            key = str(uuid.uuid4())
            response = await send(client, body, key, repeat=False)
            attempts = 1
            while repeats and _worth_repeating(response) and time.monotonic() < end:
                backoff = min(FIRST_BACKOFF_SECONDS * 2 ** (attempts - 1), MAX_BACKOFF_SECONDS)
                await asyncio.sleep(random.uniform(backoff / 2, backoff))
                response = await send(client, body, key, repeat=True)
                attempts += 1
            if attempts > 1:
                tally.keys_repeated += 1
                if response is not None and response.status_code == 201:
                    tally.keys_ordered_after_repeating += 1
                    # Once more, as a client whose answer was lost would: the same order must come back.
                    await send(client, body, key, repeat=True)

    async def on_the_wire(_request: httpx.Request) -> None:
        tally.on_the_wire += 1

    hooks = {"request": [on_the_wire]}
    async with httpx.AsyncClient(base_url=url, timeout=HANG_SECONDS, event_hooks=hooks) as client:
        await asyncio.gather(*(client_loop(client, repeats=i % 2 == 1) for i in range(concurrency)))
