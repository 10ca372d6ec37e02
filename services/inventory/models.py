"""inventory's tables."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import CheckConstraint, DateTime, ForeignKey, Integer, String
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    pass


class ProductRow(Base):
    __tablename__ = "products"
    # The database itself refuses negative stock: the last line of defence against overselling.
    __table_args__ = (CheckConstraint("stock >= 0", name="stock_not_negative"),)

    sku: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    stock: Mapped[int] = mapped_column(Integer)


class ReservationRow(Base):
    __tablename__ = "reservations"

    # The caller's key (orders uses the order id), so a retried reservation is recognised, not repeated.
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    sku: Mapped[str] = mapped_column(ForeignKey("products.sku"))
    quantity: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=lambda: datetime.now(UTC))


class RefusalRow(Base):
    """A reservation inventory refused, under the caller's key: a later attempt with that key (a retry, or an
    earlier attempt that arrives late) gets the same refusal and takes no stock, even once stock is back.

    A table of its own rather than a column of `reservations`: code that predates it (a replica not yet
    updated, a report) reads every row of `reservations` as stock taken, and must never see a refusal there.
    """

    __tablename__ = "refusals"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    # No foreign key: an unknown sku is refused too.
    sku: Mapped[str] = mapped_column(String(64))
    quantity: Mapped[int] = mapped_column(Integer)
    # The stock when the reservation was refused; None when no product had that sku.
    available: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=lambda: datetime.now(UTC))


class RestockRow(Base):
    """Stock added by the restock job: with the reservations, it accounts for every change of stock."""

    __tablename__ = "restocks"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    sku: Mapped[str] = mapped_column(ForeignKey("products.sku"))
    quantity: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=lambda: datetime.now(UTC))
