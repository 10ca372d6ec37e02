"""gateway's settings, from GATEWAY_* environment variables."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from gateway.edge import TraceContextPolicy


class GatewaySettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="GATEWAY_", extra="ignore")

    host: str = "127.0.0.1"
    port: int = 8080
    orders_address: str = "127.0.0.1:50051"
    # Deadline of each gRPC call to orders; orders keeps its calls to inventory within what is left of it.
    orders_timeout_seconds: float = Field(default=5.0, gt=0)
    log_level: str = "INFO"
    # docs-region: template-edge-settings
    # What the gateway does with a caller's traceparent/tracestate/X-Trace-ID: "trust" continues the
    # caller's trace; "restart" starts a new one that links to it (for a gateway strangers can reach).
    inbound_trace_context: TraceContextPolicy = TraceContextPolicy.TRUST
    # The inbound baggage keys the gateway passes on, comma-separated; "*" passes every key.
    inbound_baggage_keys: str = "*"
    # docs-endregion: template-edge-settings

    def baggage_allow_list(self) -> frozenset[str] | None:
        """The allowed baggage keys, or None when every key is allowed."""
        if self.inbound_baggage_keys.strip() == "*":
            return None
        return frozenset(key.strip() for key in self.inbound_baggage_keys.split(",") if key.strip())
