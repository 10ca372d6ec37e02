"""orders' settings, from ORDERS_* environment variables."""

from __future__ import annotations

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

# What the committed deployment files put where a secret goes; a service never starts with it.
PLACEHOLDER = "CHANGE-ME"


class OrdersSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="ORDERS_", extra="ignore")

    host: str = "127.0.0.1"
    port: int = 50051
    # Any SQLAlchemy async URL: sqlite+aiosqlite:///path.db or postgresql+asyncpg://user@host/db.
    database_url: str = "sqlite+aiosqlite:///var/orders.db"
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

    @field_validator("database_url")
    @classmethod
    def _no_placeholder(cls, url: str) -> str:
        # The committed Kubernetes Secret holds CHANGE-ME where the password goes: refuse to start with it
        # rather than fail later with an authentication error, or worse, run on a guessable password.
        if PLACEHOLDER in url:
            raise ValueError(f"still holds the placeholder {PLACEHOLDER}: set the real database URL")
        return url
