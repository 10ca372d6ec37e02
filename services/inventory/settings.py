"""inventory's settings, from INVENTORY_* environment variables."""

from __future__ import annotations

from pydantic_settings import BaseSettings, SettingsConfigDict


class InventorySettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="INVENTORY_", extra="ignore")

    host: str = "127.0.0.1"
    port: int = 8081
    # Any SQLAlchemy async URL: sqlite+aiosqlite:///path.db or postgresql+asyncpg://user@host/db.
    database_url: str = "sqlite+aiosqlite:///var/inventory.db"
    log_level: str = "INFO"
