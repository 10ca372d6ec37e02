"""checkout's settings, from CHECKOUT_* environment variables."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


# docs-region: checkout-settings
class CheckoutSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CHECKOUT_", extra="ignore")

    host: str = "127.0.0.1"
    port: int = 8082
    gateway_url: str = "http://127.0.0.1:8080"
    # Per order placed. Longer than the gateway's own 5 s deadline to orders, so that a slow mesh answers
    # with the gateway's 503 (and its trace) rather than a timeout here.
    gateway_timeout_seconds: float = Field(default=6.0, gt=0)
    log_level: str = "INFO"
    # docs-endregion: checkout-settings
