"""interval changes

Revision ID: 0020
Revises: 0019
A subscription event may be a change of billing interval (``interval_changed``: the
new interval and the prices in it are on the event, ``details``): the kind's CHECK
constraint gains the value. Existing rows are unchanged.

"""

from collections.abc import Sequence

from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0020"
down_revision: str | Sequence[str] | None = "0019"
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
    "addon_quantity_changed",
)
_AFTER = (*_BEFORE, "interval_changed")


def _kinds(kinds: tuple[str, ...]) -> None:
    with op.batch_alter_table("subscription_events", schema=None) as batch_op:
        batch_op.drop_constraint(
            op.f("ck_subscription_events_subscriptioneventkind"), type_="check"
        )
        batch_op.create_check_constraint(
            op.f("ck_subscription_events_subscriptioneventkind"),
            f"kind IN ({', '.join(repr(kind) for kind in kinds)})",
        )


def upgrade() -> None:
    """Upgrade schema."""
    _kinds(_AFTER)


def downgrade() -> None:
    """Downgrade schema: refused while interval changes are recorded (the CHECK would fail)."""
    _kinds(_BEFORE)
