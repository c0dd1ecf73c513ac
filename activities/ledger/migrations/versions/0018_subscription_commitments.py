"""subscription commitments: a minimum spend per contract period, trued up by the bill run

Revision ID: 0018
Revises: 0017
An annual contract's minimum commitment, recorded so that the bill run can true it up
at the end of its period (or at a cancellation inside it, prorated). Existing
subscriptions have none.

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from activities.ledger.types import Money, UtcDateTime

# revision identifiers, used by Alembic.
revision: str = "0018"
down_revision: str | Sequence[str] | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Upgrade schema."""
    op.create_table(
        "subscription_commitments",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("subscription_id", sa.String(length=32), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column(
            "amount", Money(), nullable=False, comment="minimum spend before discounts and tax"
        ),
        sa.Column("period_start", UtcDateTime(), nullable=False),
        sa.Column("period_end", UtcDateTime(), nullable=False),
        sa.Column(
            "item_codes",
            sa.JSON(),
            nullable=True,
            comment="the items whose lines count; all when empty",
        ),
        sa.Column(
            "settled_at", UtcDateTime(), nullable=True, comment="when the bill run trued it up"
        ),
        sa.Column(
            "invoice_id",
            sa.Integer(),
            nullable=True,
            comment="the invoice with the true-up line (none: no shortfall)",
        ),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.CheckConstraint("amount > 0", name=op.f("ck_subscription_commitments_amount_positive")),
        sa.CheckConstraint(
            "period_end > period_start", name=op.f("ck_subscription_commitments_period_ordered")
        ),
        sa.ForeignKeyConstraint(
            ["invoice_id"],
            ["invoices.id"],
            name=op.f("fk_subscription_commitments_invoice_id_invoices"),
        ),
        sa.ForeignKeyConstraint(
            ["subscription_id"],
            ["subscriptions.id"],
            name=op.f("fk_subscription_commitments_subscription_id_subscriptions"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_subscription_commitments")),
        sa.UniqueConstraint(
            "subscription_id",
            "period_start",
            name=op.f("uq_subscription_commitments_subscription_id"),
        ),
    )
    op.create_index(
        op.f("ix_subscription_commitments_subscription_id"),
        "subscription_commitments",
        ["subscription_id"],
        unique=False,
    )


def downgrade() -> None:
    """Downgrade schema."""
    op.drop_index(
        op.f("ix_subscription_commitments_subscription_id"),
        table_name="subscription_commitments",
    )
    op.drop_table("subscription_commitments")
