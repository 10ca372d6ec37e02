"""Constant-rate load with vegeta, and the search for the highest rate the traced mesh holds.

vegeta is an open-model load generator: it sends one request per tick of a constant rate whether or not the
earlier ones were answered, starting another worker (and connection) when every worker is busy. A slow
answer therefore delays nobody else's send, and each latency runs from the tick that sent the request, on
time. wrk's `delay()` pacing is the opposite, a closed loop: each connection waits for its answer before it
pauses and sends again, so the rate falls below the target as soon as answers slow down, and so do the
latencies it reports.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
VEGETA = ROOT / "build" / "go" / "vegeta"
# Below this share of the target rate vegeta did not send the load asked for (a starved machine).
SENT_SHARE = 0.97


@dataclass(frozen=True)
class VegetaReport:
    """What `vegeta report -type json` says of one attack."""

    requests: int
    rate: float  # requests sent per second
    throughput: float  # successful answers per second, the wait for the last answers included
    p50_ms: float
    p99_ms: float
    max_ms: float
    # Requests with no HTTP answer (status 0: refused, reset, timed out), and answers other than 2xx.
    unanswered: int
    failed: int

    @property
    def answered(self) -> int:
        """Requests the mesh answered, whatever the status: each made a trace."""
        return self.requests - self.unanswered


def parse_report(text: str) -> VegetaReport:
    """Reads vegeta's JSON report (latencies in nanoseconds, status codes as strings, "0" for no answer)."""
    try:
        report: dict[str, Any] = json.loads(text)
        latencies = report["latencies"]
        codes = {str(code): int(count) for code, count in (report.get("status_codes") or {}).items()}
        requests = int(report["requests"])
    except (ValueError, KeyError, TypeError) as error:
        raise RuntimeError(f"unexpected vegeta report:\n{text}") from error
    ok = sum(count for code, count in codes.items() if code.startswith("2"))
    return VegetaReport(
        requests=requests,
        rate=float(report["rate"]),
        throughput=float(report["throughput"]),
        p50_ms=latencies["50th"] / 1e6,
        p99_ms=latencies["99th"] / 1e6,
        max_ms=latencies["max"] / 1e6,
        unanswered=codes.get("0", 0),
        failed=requests - ok,
    )


def ensure_vegeta() -> str:
    if not VEGETA.exists():
        raise RuntimeError(f"{VEGETA.relative_to(ROOT)} is missing: `make gotools` builds it (needs Go)")
    return str(VEGETA)


def attack(
    vegeta: str,
    url: str,
    rate: float,
    seconds: float,
    directory: Path,
    method: str = "GET",
    body: str | None = None,
) -> VegetaReport:
    """`method` `url` at `rate` requests per second for `seconds`, with `body` as JSON if given; each request
    waits at most 5 s."""
    targets = directory / "vegeta-targets.txt"
    targets.write_text(vegeta_target(method, url, body, directory))
    results = directory / "vegeta-results.bin"
    subprocess.run(
        [
            vegeta,
            "attack",
            f"-rate={rate:g}/1s",
            f"-duration={seconds:g}s",
            "-timeout=5s",
            f"-targets={targets}",
            f"-output={results}",
        ],
        check=True,
        capture_output=True,
    )
    report = subprocess.run(
        [vegeta, "report", "-type=json", str(results)], check=True, capture_output=True, text=True
    )
    return parse_report(report.stdout)


def vegeta_target(method: str, url: str, body: str | None, directory: Path) -> str:
    """One target in vegeta's text format: the request line, then headers, then `@file` naming the body."""
    if body is None:
        return f"{method} {url}\n"
    body_file = directory / "vegeta-body.json"
    body_file.write_text(body)
    return f"{method} {url}\nContent-Type: application/json\n@{body_file}\n"


@dataclass(frozen=True)
class RateStep:
    """One rate tried on a fresh traced mesh, and what reached the span receiver after it stopped."""

    rate: float
    report: VegetaReport
    spans_expected: int  # every answered request's spans, from the spans one request makes
    spans_received: int
    # Spans missing from traces that arrived short, plus the spans of traces that never arrived.
    spans_lost: int
    sdk_spans_dropped: int  # what the services' batch processors say they dropped (queue full)


def broken(step: RateStep, p99_limit_ms: float) -> str | None:
    """Why the mesh did not hold this rate, or None when it did: every request answered 2xx, within the
    latency limit, at the rate asked, and every span of every answered request received."""
    report = step.report
    if report.rate < SENT_SHARE * step.rate:
        return f"vegeta sent only {report.rate:.0f}/s"
    if report.failed:
        return f"{report.failed} requests failed"
    if step.spans_lost or step.sdk_spans_dropped:
        return f"{max(step.spans_lost, step.sdk_spans_dropped)} spans lost"
    if report.p99_ms > p99_limit_ms:
        return f"p99 {report.p99_ms:.0f} ms"
    return None


def search(
    run: Callable[[float], RateStep], start: float, step: float, most: float, p99_limit_ms: float
) -> tuple[list[RateStep], RateStep | None]:
    """Tries start, start + step, ... up to `most`, and stops at the first rate the mesh does not hold.
    Returns every step tried and the highest one held (None when even the first broke)."""
    tried: list[RateStep] = []
    held: RateStep | None = None
    rate = start
    while rate <= most:
        result = run(rate)
        tried.append(result)
        if broken(result, p99_limit_ms) is not None:
            break
        held = result
        rate += step
    return tried, held
