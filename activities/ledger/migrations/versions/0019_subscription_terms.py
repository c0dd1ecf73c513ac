"""subscription terms the engine prices: periods of N intervals, items in arrears, own quantities

Revision ID: 0019
Revises: 0018
A subscription's billing period may last ``interval_count`` intervals (every 2 months);
an item may be billed in arrears for the time it was held (seat-days) instead of in
advance; an add-on may have its own quantity instead of following the seats, changed by
an ``addon_quantity_changed`` event (the event's ``quantity``). Existing subscriptions
keep what they had: one interval per period, every item in advance, add-ons per seat.

What earlier invoices of a period billed in arrears needs no column: every invoice of a
period is the engine's draft of the whole period from its opening state, less the lines
already invoiced (``subscription_periods.lines_invoiced``), so the engine's
``arrears_billed`` is always empty here (activities/recurring/history.py).

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from alembic.operations import BatchOperations

# revision identifiers, used by Alembic.
revision: str = "0019"
down_revision: str | Sequence[str] | None = "0018"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_BEFORE = (
    "seats_added",
    "seats_removed",
    "plan_changed",
    "addon_added",
    "addon_removed",
    "paused",
    "resumed",
    "cancelled",
    "quarterly_true_up",
)
_AFTER = (*_BEFORE, "addon_quantity_changed")


def _kinds(batch_op: BatchOperations, kinds: tuple[str, ...]) -> None:
    batch_op.drop_constraint(op.f("ck_subscription_events_subscriptioneventkind"), type_="check")
    batch_op.create_check_constraint(
        op.f("ck_subscription_events_subscriptioneventkind"),
        f"kind IN ({', '.join(repr(kind) for kind in kinds)})",
    )


def upgrade() -> None:
    """Upgrade schema."""
    with op.batch_alter_table("subscriptions", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "interval_count",
                sa.Integer(),
                server_default="1",
                nullable=False,
                comment="intervals per billing period (2 with month: every two months)",
            )
        )
        batch_op.create_check_constraint(
            op.f("ck_subscriptions_interval_count_positive"), "interval_count >= 1"
        )
    with op.batch_alter_table("subscription_items", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "in_arrears",
                sa.Boolean(),
                server_default=sa.false(),
                nullable=False,
                comment="billed at the period end for the time held (seat-days)",
            )
        )
        batch_op.add_column(
            sa.Column(
                "own_quantity",
                sa.Boolean(),
                server_default=sa.false(),
                nullable=False,
                comment="an add-on billed per unit of its quantity, not per seat",
            )
        )
    with op.batch_alter_table("subscription_events", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("quantity", sa.Integer(), nullable=True, comment="an add-on's own quantity")
        )
        batch_op.create_check_constraint(
            op.f("ck_subscription_events_quantity_positive"), "quantity IS NULL OR quantity >= 1"
        )
        _kinds(batch_op, _AFTER)


def downgrade() -> None:
    """Downgrade schema: refused while quantity changes are recorded (the CHECK would fail)."""
    with op.batch_alter_table("subscription_events", schema=None) as batch_op:
        _kinds(batch_op, _BEFORE)
        batch_op.drop_constraint(op.f("ck_subscription_events_quantity_positive"), type_="check")
        batch_op.drop_column("quantity")
    with op.batch_alter_table("subscription_items", schema=None) as batch_op:
        batch_op.drop_column("own_quantity")
        batch_op.drop_column("in_arrears")
    with op.batch_alter_table("subscriptions", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_subscriptions_interval_count_positive"), type_="check")
        batch_op.drop_column("interval_count")
