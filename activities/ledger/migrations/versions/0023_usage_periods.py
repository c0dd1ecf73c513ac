"""usage periods: the windows the bill run closed, for usage that arrives late

Revision ID: 0023
Revises: 0022
Each usage period a renewal invoices is recorded (start, end, the plan its usage was
priced with), so that usage of it arriving after that invoice is priced in the period as
it was, not in a window counted from the anchor the subscription has since (a change of
interval moves it). Periods closed before this revision are not recorded: their late
usage is windowed as before, from the anchor.

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from activities.ledger.types import UtcDateTime

# revision identifiers, used by Alembic.
revision: str = "0023"
down_revision: str | Sequence[str] | None = "0022"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Upgrade schema."""
    op.create_table(
        "usage_periods",
        sa.Column("subscription_id", sa.String(length=32), nullable=False),
        sa.Column("period_start", UtcDateTime(), nullable=False),
        sa.Column("period_end", UtcDateTime(), nullable=False),
        sa.Column(
            "plan",
            sa.String(length=64),
            nullable=False,
            comment="the plan its usage was priced with",
        ),
        sa.CheckConstraint(
            "period_end > period_start", name=op.f("ck_usage_periods_period_ordered")
        ),
        sa.ForeignKeyConstraint(
            ["subscription_id"],
            ["subscriptions.id"],
            name=op.f("fk_usage_periods_subscription_id_subscriptions"),
        ),
        sa.PrimaryKeyConstraint("subscription_id", "period_start", name=op.f("pk_usage_periods")),
    )


def downgrade() -> None:
    """Downgrade schema."""
    op.drop_table("usage_periods")
