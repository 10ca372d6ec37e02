"""shipments, one per order"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    # docs-region: shipping-revision
    op.create_table(
        "shipments",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("order_id", sa.String(36), nullable=False),
        sa.Column("sku", sa.String(64), nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.Column("booked_at", sa.DateTime(timezone=True), nullable=False),
        # One shipment per order: what makes a repeated booking find the first one.
        sa.UniqueConstraint("order_id", name="uq_shipments_order_id"),
    )
    # docs-endregion: shipping-revision


def downgrade() -> None:
    op.drop_table("shipments")
