"""gateway's settings, from GATEWAY_* environment variables."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class GatewaySettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="GATEWAY_", extra="ignore")

    host: str = "127.0.0.1"
    port: int = 8080
    orders_address: str = "127.0.0.1:50051"
    # Deadline of each gRPC call to orders; orders keeps its calls to inventory within what is left of it.
    orders_timeout_seconds: float = Field(default=5.0, gt=0)
    log_level: str = "INFO"
    # Whether a request may ask for a demo scenario (baggage tracemesh.scenario=...). On for the local demo,
    # off wherever strangers can reach the gateway: a scenario makes requests slow or fail on purpose.
    scenarios_enabled: bool = False
    # Where the demo page links each trace: <jaeger_ui_url>/trace/<trace id>.
    jaeger_ui_url: str = "http://localhost:16686"
