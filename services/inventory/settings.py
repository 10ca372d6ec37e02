"""inventory's settings, from INVENTORY_* environment variables."""

from __future__ import annotations

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

# What the committed deployment files put where a secret goes; a service never starts with it.
PLACEHOLDER = "CHANGE-ME"


class InventorySettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="INVENTORY_", extra="ignore")

    host: str = "127.0.0.1"
    port: int = 8081
    # Any SQLAlchemy async URL: sqlite+aiosqlite:///path.db or postgresql+asyncpg://user@host/db.
    database_url: str = "sqlite+aiosqlite:///var/inventory.db"
    log_level: str = "INFO"
    # The restock job tops every product up to its catalogue stock this often; 0 turns it off.
    restock_interval_seconds: float = Field(default=30.0, ge=0)
    # The demo scenarios' flaws (see inventory.service.Flaws).
    slow_query_rows: int = Field(default=1_000_000, ge=1)
    contention_rows: int = Field(default=100_000, ge=1)
    flaky_stall_seconds: float = Field(default=2.0, ge=0)

    # docs-region: template-placeholder
    @field_validator("database_url")
    @classmethod
    def _no_placeholder(cls, url: str) -> str:
        # The committed Kubernetes Secret holds CHANGE-ME where the password goes: refuse to start with it
        # rather than fail later with an authentication error, or worse, run on a guessable password.
        if PLACEHOLDER in url:
            raise ValueError(f"still holds the placeholder {PLACEHOLDER}: set the real database URL")
        return url
        # docs-endregion: template-placeholder
