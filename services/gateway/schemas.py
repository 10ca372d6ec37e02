"""The public JSON shapes of the gateway's API (and so of its OpenAPI document)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class OrderIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # Letters, digits, '.', '_' and '-': the same rule orders and inventory apply.
    sku: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$", examples=["BOOK-001"])
    quantity: int = Field(ge=1, le=1_000_000, examples=[1])


class OrderOut(BaseModel):
    id: str
    sku: str
    quantity: int
    status: Literal["pending", "confirmed", "rejected", "failed"]
    created_at: datetime


class ProductOut(BaseModel):
    sku: str
    name: str
    stock: int


class ErrorDetail(BaseModel):
    code: str = Field(examples=["insufficient_stock"])
    message: str
    # The trace of the failed request: paste it into Jaeger's search to see where it failed.
    trace_id: str | None = Field(examples=["4bf92f3577b34da6a3ce929d0e0e4736"])
    fields: list[dict[str, object]] | None = None


class ErrorBody(BaseModel):
    error: ErrorDetail


class ScenarioOut(BaseModel):
    name: str = Field(examples=["slow-query"])


class DemoConfig(BaseModel):
    jaeger_ui_url: str = Field(examples=["http://localhost:16686"])
    # Empty when the gateway does not accept scenarios (GATEWAY_SCENARIOS_ENABLED=false).
    scenarios: list[ScenarioOut]
