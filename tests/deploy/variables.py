"""Which environment variables each service reads: derived from its settings classes, never listed by hand."""

from __future__ import annotations

from typing import Any

from pydantic_settings import BaseSettings

from gateway.settings import GatewaySettings
from inventory.settings import InventorySettings
from orders.settings import OrdersSettings
from tracemesh_common.settings import SDK_VARIABLES, TelemetrySettings
from tracemesh_demo.gateway import GatewayDemoSettings
from tracemesh_demo.inventory import InventoryDemoSettings
from tracemesh_demo.loadgen.settings import LoadSettings

SETTINGS: dict[str, type[BaseSettings]] = {
    "gateway": GatewaySettings,
    "orders": OrdersSettings,
    "inventory": InventorySettings,
}
# What the demo attached to a service reads, beside the service's own settings.
DEMO_SETTINGS: dict[str, type[BaseSettings]] = {
    "gateway": GatewayDemoSettings,
    "inventory": InventoryDemoSettings,
}
# The load generator is a client, not a service: no port of its own to be reached on.
CLIENTS: dict[str, type[BaseSettings]] = {"load": LoadSettings}
PORT_VARIABLE = {"gateway": "GATEWAY_PORT", "orders": "ORDERS_PORT", "inventory": "INVENTORY_PORT"}


def variables_of(settings: type[BaseSettings]) -> set[str]:
    return set(defaults_of(settings))


def defaults_of(settings: type[BaseSettings]) -> dict[str, Any]:
    """Each variable `settings` reads, with the default it falls back to. A field's variable is its prefixed
    name, or its alias when it has one (TRACEMESH_OTLP_ENCODER), as pydantic-settings reads them."""
    prefix = settings.model_config.get("env_prefix", "")
    found: dict[str, Any] = {}
    for name, field in settings.model_fields.items():
        alias = field.validation_alias
        variable = alias if isinstance(alias, str) else f"{prefix}{name}"
        found[variable.upper()] = field.default
    return found


def is_read_by(service: str, variable: str) -> bool:
    """True when `service` reads `variable`: its own settings, its demo's, tracemesh's OTEL_* settings, or the
    SDK's."""
    read = variables_of((SETTINGS | CLIENTS)[service]) | variables_of(TelemetrySettings)
    if service in DEMO_SETTINGS:
        read |= variables_of(DEMO_SETTINGS[service])
    if variable in read:
        return True
    return is_sdk_variable(variable)


def is_sdk_variable(variable: str) -> bool:
    """True when the OpenTelemetry SDK or its exporters read `variable` themselves."""
    return any(
        variable == known or (known.endswith("_") and variable.startswith(known)) for known in SDK_VARIABLES
    )


def default_port(service: str) -> int:
    port: int = SETTINGS[service]().port  # type: ignore[attr-defined]
    return port
