"""A bounded load of concurrent orders, each answer sorted into: succeeded, failed cleanly, failed badly."""

from __future__ import annotations

import asyncio
import random
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


@dataclass
class Tally:
    sent: int = 0
    succeeded: int = 0
    failed_cleanly: int = 0
    failed_badly: int = 0
    # The traces of the requests that succeeded, to look for their spans.
    traces: list[str] = field(default_factory=list)
    # A few of the bad answers, to say what went wrong.
    bad: list[str] = field(default_factory=list)

    def count(self, response: httpx.Response | None, problem: str = "", *, seconds: float = 0.0) -> None:
        self.sent += 1
        if seconds > HANG_SECONDS:
            response, problem = None, f"answered after {seconds:.1f} s"
        if response is not None and response.status_code == 201:
            self.succeeded += 1
            self.traces.append(response.headers["traceresponse"].split("-")[1])
        elif response is not None and _clean_failure(response):
            self.failed_cleanly += 1
        else:
            self.failed_badly += 1
            if len(self.bad) < 5:
                self.bad.append(problem or f"{response.status_code if response else '-'} {_text(response)}")


def _clean_failure(response: httpx.Response) -> bool:
    """An expected refusal or outage, said the documented way: an error body with its code, a message and
    the trace id."""
    try:
        error = response.json()["error"]
    except (ValueError, KeyError, TypeError):
        return False
    return (
        (response.status_code, error.get("code")) in CLEAN
        and bool(error.get("message"))
        and "trace_id" in error
    )


def _text(response: httpx.Response | None) -> str:
    return "" if response is None else response.text[:200]


async def drive(url: str, seconds: float, concurrency: int, tally: Tally) -> None:
    """Places orders from `concurrency` clients for `seconds`, each with its own Idempotency-Key."""
    end = time.monotonic() + seconds

    async def client_loop(client: httpx.AsyncClient) -> None:
        while time.monotonic() < end:
            body = {"sku": random.choice(SKUS), "quantity": 1}
            headers = {"Idempotency-Key": str(uuid.uuid4())}
            started = time.monotonic()
            try:
                response = await client.post("/orders", json=body, headers=headers)
            except httpx.HTTPError as error:  # no fault stops the gateway: it must always answer
                tally.count(None, f"{type(error).__name__}: {error}")
            else:
                tally.count(response, seconds=time.monotonic() - started)

    async with httpx.AsyncClient(base_url=url, timeout=HANG_SECONDS) as client:
        await asyncio.gather(*(client_loop(client) for _ in range(concurrency)))
