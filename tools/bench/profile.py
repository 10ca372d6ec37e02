"""Where a traced request's CPU goes: py-spy samples of each service under load, sorted into the layers
that tracing adds."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

# A sample belongs to the layer of its innermost frame outside the standard library (so time spent in
# `contextvars` or `threading` counts for whoever called it). The first matching rule wins.
LAYERS = (
    (
        "export (OTLP encoding and sending)",
        (
            "/opentelemetry/exporter/",
            "/opentelemetry/sdk/_shared_internal/",
            "/services/tracemesh_common/fast_otlp.py",
        ),
    ),
    (
        "instrumentation (middleware, interceptors, hooks)",
        ("/opentelemetry/instrumentation/", "/opentelemetry/util/"),
    ),
    ("SDK (spans, attributes, context, propagation)", ("/opentelemetry/", "/services/telemetry/")),
)
OTHER = "the service itself (framework, database, logging)"
_FRAME = re.compile(r"\((.*):\d+\)$")


def py_spy() -> str:
    found = shutil.which("py-spy", path=str(Path(sys.executable).parent)) or shutil.which("py-spy")
    if found is None:
        raise RuntimeError("py-spy is not installed (it is in requirements-dev.lock)")
    return found


def record(pid: int, seconds: float, output: Path) -> subprocess.Popen[bytes]:
    """Starts sampling one process in the background, as raw folded stacks."""
    command = [py_spy(), "record", "--pid", str(pid), "--duration", str(round(seconds)), "--rate", "200"]
    # --gil: only the thread holding the GIL, i.e. Python actually running. Without it, threads blocked in C
    # (the event loop in epoll, the database driver's worker on its queue) look busy.
    command += ["--gil", "--nonblocking", "--full-filenames", "--format", "raw", "--output", str(output)]
    return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def layers(raw: Path) -> dict[str, float]:
    """The share of samples in each layer, from py-spy's folded stacks ("frame;frame;... count")."""
    counts: Counter[str] = Counter()
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if count.isdigit():
            counts[_layer(stack)] += int(count)
    total = sum(counts.values()) or 1
    return {name: counts[name] / total for name, _ in LAYERS} | {OTHER: counts[OTHER] / total}


def _layer(stack: str) -> str:
    for frame in reversed(stack.split(";")):
        found = _FRAME.search(frame)
        path = found.group(1) if found else ""
        if "site-packages" not in path and "/services/" not in path and "/tools/" not in path:
            continue  # the standard library, or a frozen module: keep walking outwards
        for name, markers in LAYERS:
            if any(marker in path for marker in markers):
                return name
        return OTHER
    return OTHER
