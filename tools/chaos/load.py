"""A bounded load of concurrent orders, each answer sorted into: succeeded, failed cleanly, failed badly."""

from __future__ import annotations

import asyncio
import random
import time
import uuid
from dataclasses import dataclass, field

import httpx

SKUS = ["BOOK-001", "MUG-042", "SHIRT-7", "STICKER-3", "LAMP-9"]
# Longer than the gateway's deadline for orders (5 s): an answer later than this is a hang.
HANG_SECONDS = 8.0


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

    def count(self, response: httpx.Response | None, problem: str = "") -> None:
        self.sent += 1
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
    """A refusal or an outage, said the documented way: 404/409/503 with an error body naming its trace."""
    if response.status_code not in (404, 409, 503):
        return False
    try:
        error = response.json()["error"]
    except (ValueError, KeyError, TypeError):
        return False
    return bool(error.get("code")) and bool(error.get("message")) and "trace_id" in error


def _text(response: httpx.Response | None) -> str:
    return "" if response is None else response.text[:200]


async def drive(url: str, seconds: float, concurrency: int, tally: Tally) -> None:
    """Places orders from `concurrency` clients for `seconds`, each with its own Idempotency-Key."""
    end = time.monotonic() + seconds

    async def client_loop(client: httpx.AsyncClient) -> None:
        while time.monotonic() < end:
            body = {"sku": random.choice(SKUS), "quantity": 1}
            headers = {"Idempotency-Key": str(uuid.uuid4())}
            try:
                tally.count(await client.post("/orders", json=body, headers=headers))
            except httpx.ConnectError:
                # Nothing listens (the gateway itself is stopping): refused at once, said clearly.
                tally.sent += 1
                tally.failed_cleanly += 1
                await asyncio.sleep(0.05)
            except httpx.HTTPError as error:
                tally.count(None, f"{type(error).__name__}: {error}")

    async with httpx.AsyncClient(base_url=url, timeout=HANG_SECONDS) as client:
        await asyncio.gather(*(client_loop(client) for _ in range(concurrency)))
