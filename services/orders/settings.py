"""orders' settings, from ORDERS_* environment variables."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from tracemesh_common.settings import DatabaseUrl


class OrdersSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="ORDERS_", extra="ignore")

    host: str = "127.0.0.1"
    port: int = 50051
    database_url: DatabaseUrl = "sqlite+aiosqlite:///var/orders.db"
    inventory_url: str = "http://127.0.0.1:8081"
    # Per attempt; all attempts together stay within what is left of the caller's gRPC deadline.
    inventory_timeout_seconds: float = Field(default=1.5, gt=0)
    inventory_attempts: int = Field(default=2, ge=1, le=5)
    # The settling sweep: this often, orders still pending this long after they were placed (longer than
    # any request may take) are finished by reserving again under their id; 0 turns the sweep off.
    settle_interval_seconds: float = Field(default=30.0, ge=0)
    settle_after_seconds: float = Field(default=15.0, gt=0)
    # After SIGTERM, how long orders goes on taking calls while its health service already answers
    # NOT_SERVING, so that probes and load balancers stop sending before it stops (0: stop at once).
    drain_seconds: float = Field(default=0.0, ge=0)
    # How long in-flight calls may take to finish after SIGTERM (after the drain).
    shutdown_grace_seconds: float = Field(default=5.0, ge=0)
    log_level: str = "INFO"
