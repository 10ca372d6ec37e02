"""What the mesh is made of: its processes, their environment, and where each one listens.

`make run` starts `plan()` under a process manager (tools/mesh/manager.py), which receives and prints their
spans itself at `waterfall_address()`; the tests, the benchmark and the fault suite start `services()` on free
ports (tools/mesh/processes.py). A service joins the mesh here, once.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from dataclasses import dataclass
from typing import NamedTuple

# In the order they start, each after the service it calls (gateway -> orders -> inventory).
SERVICES = ("inventory", "orders", "gateway")
# The services that own a database: each is migrated (`python -m <service>.migrate`) before it starts.
MIGRATED = ("inventory", "orders")
# Where the OTLP exporters send when OTEL_EXPORTER_OTLP_ENDPOINT is unset.
DEFAULT_ENDPOINT = "http://localhost:4317"


class Process(NamedTuple):
    """One process to start: its name (the prefix of its output), its command line, its environment."""

    name: str
    argv: list[str]
    env: dict[str, str]


@dataclass(frozen=True)
class Addresses:
    """Where the mesh listens. The defaults are make run's: those of each service's settings.py and of the
    waterfall."""

    gateway: int = 8080
    inventory: int = 8081
    orders: int = 50051
    otlp: int = 4317

    @property
    def ports(self) -> list[int]:
        return [self.gateway, self.inventory, self.orders, self.otlp]

    @property
    def gateway_url(self) -> str:
        return f"http://127.0.0.1:{self.gateway}"

    @property
    def inventory_url(self) -> str:
        return f"http://127.0.0.1:{self.inventory}"

    @property
    def orders_address(self) -> str:
        return f"127.0.0.1:{self.orders}"

    @property
    def otlp_endpoint(self) -> str:
        return f"http://127.0.0.1:{self.otlp}"

    def settings(self) -> dict[str, dict[str, str]]:
        """Each service's settings that make it listen here and find the service it calls here."""
        return {
            "inventory": {"INVENTORY_PORT": str(self.inventory)},
            "orders": {"ORDERS_PORT": str(self.orders), "ORDERS_INVENTORY_URL": self.inventory_url},
            "gateway": {"GATEWAY_PORT": str(self.gateway), "GATEWAY_ORDERS_ADDRESS": self.orders_address},
        }


def services(
    environ: Mapping[str, str], settings: Mapping[str, Mapping[str, str]] | None = None
) -> list[Process]:
    """The services, each `python -m <service>` with `environ` and its own `settings` (its port, the
    address of the service it calls, its database); without them, each uses its settings.py defaults."""
    own = settings or {}
    return [
        Process(service, [sys.executable, "-m", service], dict(environ) | dict(own.get(service, {})))
        for service in SERVICES
    ]


def plan(environ: Mapping[str, str]) -> list[Process]:
    """What `make run` starts, as (name, argv, environment): the services on their default addresses."""
    env = dict(environ)
    # Export every half second instead of every five, so each trace appears right after its request.
    env.setdefault("OTEL_BSP_SCHEDULE_DELAY", "500")
    # The local demo: the page at http://localhost:8080 may ask for scenarios.
    env.setdefault("GATEWAY_SCENARIOS_ENABLED", "true")
    env["PYTHONUNBUFFERED"] = "1"
    return services(env)


def waterfall_address(environ: Mapping[str, str]) -> str | None:
    """Where `make run` receives the services' spans and prints them (the waterfall, inside the manager),
    or None where somebody else is named to receive them."""
    endpoint = environ.get("OTEL_EXPORTER_OTLP_ENDPOINT", "")
    wanted = environ.get("TRACEMESH_WATERFALL", "auto") != "off"
    if wanted and endpoint.rstrip("/") in ("", DEFAULT_ENDPOINT, "http://127.0.0.1:4317"):
        # Nobody else is named to receive the spans: print them here. A real collector or Jaeger named in
        # OTEL_EXPORTER_OTLP_ENDPOINT is left to do that job, and so is one already listening on the default
        # endpoint when TRACEMESH_WATERFALL=off.
        return "127.0.0.1:4317"
    return None
