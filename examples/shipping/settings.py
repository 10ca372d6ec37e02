"""shipping's settings, from SHIPPING_* environment variables."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from tracemesh_common.settings import DatabaseUrl


# docs-region: shipping-settings
class ShippingSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SHIPPING_", extra="ignore")

    host: str = "127.0.0.1"
    port: int = 50052
    # Its own database: no other service reads or writes its tables. Refuses the committed placeholder.
    database_url: DatabaseUrl = "sqlite+aiosqlite:///var/shipping.db"
    # How long in-flight calls may take to finish after SIGTERM.
    shutdown_grace_seconds: float = Field(default=5.0, ge=0)
    log_level: str = "INFO"
    # docs-endregion: shipping-settings
