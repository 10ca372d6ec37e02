"""The catalogue a fresh inventory database starts with, so the first order works."""

from __future__ import annotations

from inventory.domain import Product

CATALOGUE = [
    Product(sku="BOOK-001", name="Distributed Tracing in Practice", stock=100),
    Product(sku="MUG-042", name="Span Mug", stock=40),
    Product(sku="SHIRT-7", name="Trace Context T-Shirt", stock=25),
    Product(sku="STICKER-3", name="Baggage Sticker Pack", stock=500),
    Product(sku="LAMP-9", name="Waterfall Lamp", stock=5),
]
