"""the catalogue a fresh database starts with, so the first order works (as inventory/catalogue.py)"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

# As it was when this revision was written: a revision never changes once applied somewhere.
CATALOGUE = [
    ("BOOK-001", "Distributed Tracing in Practice", 100),
    ("MUG-042", "Span Mug", 40),
    ("SHIRT-7", "Trace Context T-Shirt", 25),
    ("STICKER-3", "Baggage Sticker Pack", 500),
    ("LAMP-9", "Waterfall Lamp", 5),
]
products = sa.table("products", sa.column("sku"), sa.column("name"), sa.column("stock"))


def upgrade() -> None:
    op.bulk_insert(products, [{"sku": sku, "name": name, "stock": stock} for sku, name, stock in CATALOGUE])


def downgrade() -> None:
    op.execute(products.delete().where(products.c.sku.in_([sku for sku, _, _ in CATALOGUE])))
