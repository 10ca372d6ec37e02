"""A real Jaeger v2 (built by `make gotools`) as a test's trace backend, and what its query API returns.

Jaeger runs with a configuration file of the repository (deploy/jaeger/config.yaml, the one compose and
Kubernetes mount), on ports of its own: each address is moved with `--set`, nothing else of the file changes.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from tools.mesh.ports import free_port

ROOT = Path(__file__).resolve().parents[3]
JAEGER_CONFIG = ROOT / "deploy" / "jaeger" / "config.yaml"
COLLECTOR_CONFIG = ROOT / "deploy" / "collector" / "config.yaml"


@dataclass(frozen=True)
class JaegerSpan:
    """One span as Jaeger's v1 API (`/api/traces/{id}`) shows it to its UI."""

    span_id: str
    parent_id: str | None  # the CHILD_OF reference; it may name a span outside the trace (the caller's)
    service: str
    name: str
    start_us: int
    duration_us: int
    tags: dict[str, Any]
    events: tuple[str, ...] = ()  # the span's events, which Jaeger calls logs, by name

    @property
    def kind(self) -> str:
        return str(self.tags.get("span.kind", "internal"))

    @property
    def error(self) -> bool:
        """How Jaeger marks a failed span: the tag `error=true` (from OTLP's status code ERROR)."""
        return self.tags.get("error") is True


@dataclass(frozen=True)
class JaegerTrace:
    trace_id: str
    spans: list[JaegerSpan]
    # Each process (service) as Jaeger shows it: its service name and its resource attributes.
    processes: dict[str, dict[str, Any]]

    @property
    def services(self) -> set[str]:
        return {span.service for span in self.spans}

    def roots(self) -> list[JaegerSpan]:
        """The spans whose parent is not in the trace (one, for a trace that is whole)."""
        ids = {span.span_id for span in self.spans}
        return [span for span in self.spans if span.parent_id not in ids]

    def children(self, span: JaegerSpan) -> list[JaegerSpan]:
        return [child for child in self.spans if child.parent_id == span.span_id]

    def by(self, service: str, kind: str | None = None) -> list[JaegerSpan]:
        return [s for s in self.spans if s.service == service and (kind is None or s.kind == kind)]

    @property
    def duration_us(self) -> int:
        return max(s.start_us + s.duration_us for s in self.spans) - min(s.start_us for s in self.spans)

    @classmethod
    def from_api(cls, data: dict[str, Any]) -> JaegerTrace:
        processes = {
            key: {"serviceName": process["serviceName"], **_tags(process.get("tags", []))}
            for key, process in data["processes"].items()
        }
        spans = []
        for span in data["spans"]:
            parents = [ref["spanID"] for ref in span.get("references", []) if ref["refType"] == "CHILD_OF"]
            spans.append(
                JaegerSpan(
                    span_id=span["spanID"],
                    parent_id=parents[0] if parents else None,
                    service=processes[span["processID"]]["serviceName"],
                    name=span["operationName"],
                    start_us=span["startTime"],
                    duration_us=span["duration"],
                    tags=_tags(span.get("tags", [])),
                    events=tuple(str(_tags(log["fields"]).get("event")) for log in span.get("logs", [])),
                )
            )
        return cls(data["traceID"], spans, processes)


def _tags(tags: list[dict[str, Any]]) -> dict[str, Any]:
    return {tag["key"]: tag["value"] for tag in tags}


@dataclass
class Jaeger:
    """A running Jaeger: where it receives spans, and its query API."""

    process: subprocess.Popen[bytes]
    log: Path
    ports: dict[str, int] = field(default_factory=dict)

    @property
    def otlp_grpc(self) -> str:
        return f"http://127.0.0.1:{self.ports['otlp_grpc']}"

    @property
    def otlp_http(self) -> str:
        return f"http://127.0.0.1:{self.ports['otlp_http']}"

    @property
    def zipkin(self) -> str:
        return f"http://127.0.0.1:{self.ports['zipkin']}/api/v2/spans"

    @property
    def ui(self) -> str:
        """The UI and query API, as compose publishes them on 16686."""
        return f"http://127.0.0.1:{self.ports['query_http']}"

    def get(self, path: str, **params: Any) -> httpx.Response:
        return httpx.get(f"{self.ui}{path}", params=params, timeout=10)

    def trace(self, trace_id: str) -> JaegerTrace | None:
        """The trace as the UI gets it (`/api/traces/{id}`); None while Jaeger has no span of it."""
        response = self.get(f"/api/traces/{trace_id}")
        if response.status_code == 404:
            return None
        response.raise_for_status()
        (data,) = response.json()["data"]
        return JaegerTrace.from_api(data)

    def wait_for(
        self, trace_id: str, until: Callable[[JaegerTrace], bool], timeout: float = 20
    ) -> JaegerTrace:
        """Polls Jaeger until the trace satisfies `until` (each service exports on its own schedule)."""
        deadline = time.monotonic() + timeout
        while True:
            trace = self.trace(trace_id)
            if trace is not None and until(trace):
                return trace
            if time.monotonic() > deadline:
                shown = [(s.service, s.kind, s.name) for s in trace.spans] if trace else "no span at all"
                raise AssertionError(f"trace {trace_id} not as expected in Jaeger after {timeout} s: {shown}")
            time.sleep(0.2)

    def find(self, service: str, tags: dict[str, str], limit: int = 100) -> list[JaegerTrace]:
        """What the UI's search form finds: a service, and tags as its Tags field takes them."""
        response = self.get("/api/traces", service=service, tags=json.dumps(tags), limit=limit, lookback="1h")
        response.raise_for_status()
        return [JaegerTrace.from_api(data) for data in response.json()["data"]]

    def services(self) -> list[str]:
        response = self.get("/api/services")
        response.raise_for_status()
        return list(response.json()["data"] or [])

    def metric(self, name: str, **labels: str) -> float:
        """The sum of a metric of Jaeger's own (Prometheus text on its telemetry port, 8888 in compose)."""
        text = httpx.get(f"http://127.0.0.1:{self.ports['metrics']}/metrics", timeout=10).text
        total = 0.0
        for line in text.splitlines():
            head, _, value = line.rpartition(" ")
            if head.split("{")[0] == name and all(f'{k}="{v}"' in head for k, v in labels.items()):
                total += float(value)
        return total

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")


# Each address of deploy/jaeger/config.yaml, by the path `--set` takes.
JAEGER_ADDRESSES = {
    "otlp_grpc": "receivers.otlp.protocols.grpc.endpoint",
    "otlp_http": "receivers.otlp.protocols.http.endpoint",
    "zipkin": "receivers.zipkin.endpoint",
    "query_http": "extensions.jaeger_query.http.endpoint",
    "query_grpc": "extensions.jaeger_query.grpc.endpoint",
    "health": "extensions.healthcheckv2.http.endpoint",
}


def address_flags(ports: dict[str, int], addresses: dict[str, str]) -> list[str]:
    """`--set` flags that move each address to 127.0.0.1 and a port of its own; the telemetry's metrics
    reader is a list, set whole."""
    flags = [f"--set={path}=127.0.0.1:{ports[name]}" for name, path in addresses.items()]
    reader = f"[{{pull: {{exporter: {{prometheus: {{host: 127.0.0.1, port: {ports['metrics']}}}}}}}}}]"
    return [*flags, f"--set=service.telemetry.metrics.readers={reader}"]


# The Collector's addresses in deploy/collector/config.yaml, and the health extension it is given here.
COLLECTOR_ADDRESSES = {
    "otlp_grpc": "receivers.otlp.protocols.grpc.endpoint",
    "otlp_http": "receivers.otlp.protocols.http.endpoint",
    "health": "extensions.healthcheckv2.http.endpoint",
}


def collector_flags(exporting_to: Jaeger) -> tuple[str, ...]:
    """deploy/collector/config.yaml as Jaeger runs it: the file unchanged, but for its health extension
    (the Collector's `health_check`, which Jaeger does not carry, gives way to Jaeger's `healthcheckv2`)
    and its exporter's address (`jaeger:4317` in compose)."""
    return (
        f"--config={COLLECTOR_CONFIG}",
        # A later configuration merges into the earlier ones: this one empties the extensions.
        "--config=yaml:extensions: null",
        "--set=extensions.healthcheckv2.use_v2=true",
        "--set=service.extensions=[healthcheckv2]",
        f"--set=exporters.otlp/jaeger.endpoint=127.0.0.1:{exporting_to.ports['otlp_grpc']}",
    )


@contextmanager
def run_jaeger(
    binary: Path,
    log: Path,
    config: tuple[str, ...] = (f"--config={JAEGER_CONFIG}",),
    addresses: dict[str, str] | None = None,
) -> Iterator[Jaeger]:
    """Starts Jaeger with `config` (its --config and --set flags), every address moved to a free port, and
    waits until its /status says it is healthy. Stops it on the way out."""
    addresses = JAEGER_ADDRESSES if addresses is None else addresses
    ports = {name: free_port() for name in [*addresses, "metrics"]}
    command = [str(binary), *config, *address_flags(ports, addresses)]
    # What Jaeger traces of itself goes to the OTLP SDK's default endpoint, localhost:4317: in compose,
    # Jaeger's own receiver. Here that receiver is on another port; point it there, as compose would.
    env = {key: value for key, value in os.environ.items() if not key.startswith("OTEL_")}
    if "otlp_grpc" in ports:
        env["OTEL_EXPORTER_OTLP_ENDPOINT"] = f"http://127.0.0.1:{ports['otlp_grpc']}"
    with log.open("ab") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=env)
    jaeger = Jaeger(process, log, ports)
    try:
        _wait_healthy(jaeger)
        yield jaeger
    finally:
        process.terminate()
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _wait_healthy(jaeger: Jaeger, timeout: float = 30) -> None:
    url = f"http://127.0.0.1:{jaeger.ports['health']}/status"
    deadline = time.monotonic() + timeout
    while True:
        if jaeger.process.poll() is not None:
            raise RuntimeError(
                f"jaeger exited with {jaeger.process.returncode}:\n{jaeger.log_text()[-5000:]}"
            )
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            raise TimeoutError(f"jaeger not healthy at {url}:\n{jaeger.log_text()[-5000:]}")
        time.sleep(0.1)
