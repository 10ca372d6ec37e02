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
