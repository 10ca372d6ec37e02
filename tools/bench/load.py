"""Driving the gateway with wrk, and reading wrk's report."""

from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3}


@dataclass(frozen=True)
class LoadResult:
    requests: int
    errors: int  # non-2xx answers, connection errors and timeouts
    seconds: float
    p50_ms: float
    p99_ms: float

    @property
    def rps(self) -> float:
        return self.requests / self.seconds


def ensure_wrk() -> str:
    """wrk from Debian's packages: a load generator that costs little CPU, so the services are the
    bottleneck, not the tool."""
    found = shutil.which("wrk")
    if found:
        return found
    subprocess.run(["apt-get", "install", "--yes", "--quiet", "wrk"], check=False, capture_output=True)
    found = shutil.which("wrk")
    if found is None:
        subprocess.run(["apt-get", "update", "--quiet"], check=False, capture_output=True)
        subprocess.run(["apt-get", "install", "--yes", "--quiet", "wrk"], check=True, capture_output=True)
        found = shutil.which("wrk")
    if found is None:
        raise RuntimeError("wrk is not installed and could not be installed: apt-get install wrk")
    return found


def lua_script(directory: Path, method: str, body: str | None) -> Path:
    """A wrk script: the request to send. wrk runs flat out (a closed loop: each connection sends again when
    answered); constant-rate load is vegeta's (tools/bench/rate.py)."""
    lines = [f'wrk.method = "{method}"']
    if body is not None:
        lines += [f"wrk.body = '{body}'", 'wrk.headers["Content-Type"] = "application/json"']
    path = directory / f"{method.lower()}-{abs(hash(body))}.lua"
    path.write_text("\n".join(lines) + "\n")
    return path


def start_wrk(
    wrk: str, url: str, script: Path, seconds: float, connections: int = 16
) -> subprocess.Popen[str]:
    """Starts wrk in the background; wait for it with `communicate()` and read its report with `parse`."""
    return subprocess.Popen(
        [
            wrk,
            "-t1",
            f"-c{connections}",
            f"-d{max(1, round(seconds))}s",
            "--latency",
            "--timeout",
            "5s",
            "-s",
            str(script),
            url,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def parse(output: str) -> LoadResult:
    requests = re.search(r"(\d+) requests in ([\d.]+)(\w+)", output)
    if requests is None:
        raise RuntimeError(f"unexpected wrk output:\n{output}")
    seconds = float(requests.group(2)) * {"s": 1.0, "m": 60.0, "ms": 1e-3}[requests.group(3)]
    errors = 0
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    if non_2xx:
        errors += int(non_2xx.group(1))
    socket_errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output)
    if socket_errors:
        errors += sum(int(value) for value in socket_errors.groups())
    return LoadResult(
        requests=int(requests.group(1)),
        errors=errors,
        seconds=seconds,
        p50_ms=_latency(output, "50%"),
        p99_ms=_latency(output, "99%"),
    )


def _latency(output: str, percentile: str) -> float:
    found = re.search(rf"^\s+{re.escape(percentile)}\s+([\d.]+)(us|ms|s|m)\s*$", output, re.MULTILINE)
    return float(found.group(1)) * _UNITS[found.group(2)] if found else float("nan")
