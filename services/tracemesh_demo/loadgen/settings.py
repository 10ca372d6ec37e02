"""The load generator's settings, from LOADGEN_* environment variables (Locust's own flags set the
users, the rate of spawning them, the run time and the target host)."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from tracemesh_demo.scenarios import Scenario


class LoadSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="LOADGEN_", extra="ignore")

    # Requests per second of each simulated user.
    user_rate: float = Field(default=1.0, gt=0)
    # The share of requests that ask for a scenario, and the scenarios they pick from (comma-separated).
    scenario_share: float = Field(default=0.1, ge=0, le=1)
    scenarios: str = ",".join(Scenario)
    # The share of requests that are deliberately bad (unknown sku, too many, malformed JSON).
    bad_request_share: float = Field(default=0.05, ge=0, le=1)

    def scenario_names(self) -> list[Scenario]:
        return [Scenario(name.strip()) for name in self.scenarios.split(",") if name.strip()]
