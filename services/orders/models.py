"""orders' table."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, ForeignKey, Integer, String
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    pass


class OrderRow(Base):
    __tablename__ = "orders"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    sku: Mapped[str] = mapped_column(String(64))
    quantity: Mapped[int] = mapped_column(Integer)
    # Indexed: the settling sweep looks for pending orders among all the others.
    status: Mapped[str] = mapped_column(String(16), index=True)
    # Indexed: "the most recent orders" must stay one cheap query however many orders pile up.
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)


class IdempotencyKeyRow(Base):
    """A client's Idempotency-Key and the order it created: a table of its own, written in the order's
    transaction, so a repeated request finds the order instead of creating another."""

    __tablename__ = "idempotency_keys"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    order_id: Mapped[str] = mapped_column(ForeignKey("orders.id"))
