"""inventory's settings, from INVENTORY_* environment variables."""

from __future__ import annotations

from pydantic_settings import BaseSettings, SettingsConfigDict

from tracemesh_common.settings import DatabaseUrl


class InventorySettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="INVENTORY_", extra="ignore")

    host: str = "127.0.0.1"
    port: int = 8081
    database_url: DatabaseUrl = "sqlite+aiosqlite:///var/inventory.db"
    log_level: str = "INFO"
