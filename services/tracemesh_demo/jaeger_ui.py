"""Whether the Jaeger UI the demo page links to answers, so the page never offers a dead link.

The browser cannot find out by itself: a page may not read an answer from another origin unless that origin
allows it (CORS), and the page fetches nothing from elsewhere. The gateway asks instead, from its own process:
a GET of the UI's `/`, with a short timeout. Under `make run` the gateway and the browser share a host, so
what answers the gateway answers the browser too (compose and Kubernetes turn the check off: see
GatewayDemoSettings). The answer is kept a few seconds, so a page logging a burst of requests costs one check,
and a Jaeger started later is picked up soon after.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

# Long enough for a local Jaeger to answer, short enough that a request waiting on the check hardly notices.
TIMEOUT_SECONDS = 0.5
RECHECK_SECONDS = 5.0

Probe = Callable[[], Awaitable[bool]]


def http_probe(url: str, timeout: float = TIMEOUT_SECONDS) -> Probe:
    """A probe that answers True when a GET of `url` succeeds within `timeout` seconds (redirects count)."""

    async def probe() -> bool:
        # Imported on the first check, not with the gateway, which has no other use for an HTTP client.
        import httpx

        # A client of its own each time: one check every few seconds, and nothing to close when the gateway
        # stops. Not instrumented, so the checks leave no traces; no proxy from the environment, since the
        # question is whether this host reaches the UI.
        try:
            async with httpx.AsyncClient(timeout=timeout, trust_env=False) as client:
                response = await client.get(url.rstrip("/") + "/")
        except (httpx.HTTPError, httpx.InvalidURL):
            return False
        return response.status_code < 400

    return probe


class JaegerUiCheck:
    """The probe's last answer, asked again once it is `recheck_seconds` old; one probe at a time."""

    def __init__(
        self,
        probe: Probe,
        recheck_seconds: float = RECHECK_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._probe = probe
        self._recheck_seconds = recheck_seconds
        self._clock = clock
        self._lock = asyncio.Lock()
        self._answered: bool | None = None
        self._checked_at = 0.0

    async def answers(self) -> bool:
        if self._fresh():
            return bool(self._answered)
        async with self._lock:
            # Callers that waited here while another one probed take its answer.
            if not self._fresh():
                self._answered = await self._probe()
                self._checked_at = self._clock()
            return bool(self._answered)

    def _fresh(self) -> bool:
        return self._answered is not None and self._clock() - self._checked_at < self._recheck_seconds
