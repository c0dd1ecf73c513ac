"""recurring billing: subscription periods and events, usage events, bill-run records

Revision ID: 0006
Revises: 0003
A subscription's current billing period (with its state at the period start once it
changes), the append-only history of its changes, metered usage (once per sender's
event id) and what each bill run did with each subscription. Existing subscriptions
get their current period from their newest invoice.

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from activities.ledger.types import Money, UtcDateTime

# revision identifiers, used by Alembic.
revision: str = "0006"
down_revision: str | Sequence[str] | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

EVENT_KINDS = (
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


def upgrade() -> None:
    """Upgrade schema."""
    op.create_table(
        "subscription_periods",
        sa.Column("subscription_id", sa.String(length=32), nullable=False),
        sa.Column("period_start", UtcDateTime(), nullable=False),
        sa.Column("period_end", UtcDateTime(), nullable=False),
        sa.Column("opening", sa.JSON(), nullable=True, comment="state at the period start"),
        sa.Column("lines_invoiced", sa.Integer(), nullable=False),
        sa.Column(
            "invoiced_through",
            UtcDateTime(),
            nullable=True,
            comment="the latest change already invoiced at once",
        ),
        sa.Column("updated_at", UtcDateTime(), nullable=False),
        sa.CheckConstraint(
            "period_end > period_start", name=op.f("ck_subscription_periods_period_ordered")
        ),
        sa.CheckConstraint(
            "lines_invoiced >= 0", name=op.f("ck_subscription_periods_lines_non_negative")
        ),
        sa.ForeignKeyConstraint(
            ["subscription_id"],
            ["subscriptions.id"],
            name=op.f("fk_subscription_periods_subscription_id_subscriptions"),
        ),
        sa.PrimaryKeyConstraint("subscription_id", name=op.f("pk_subscription_periods")),
    )
    op.create_index(
        "ix_subscription_periods_period_end", "subscription_periods", ["period_end"], unique=False
    )
    op.create_table(
        "subscription_events",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("subscription_id", sa.String(length=32), nullable=False),
        sa.Column(
            "kind",
            sa.Enum(
                *EVENT_KINDS,
                name="subscriptioneventkind",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("effective_at", UtcDateTime(), nullable=False),
        sa.Column("seats", sa.Integer(), nullable=True, comment="seats added or removed"),
        sa.Column("plan", sa.String(length=64), nullable=True),
        sa.Column("addon", sa.String(length=64), nullable=True),
        sa.Column("unit_price", Money(), nullable=True),
        sa.Column("details", sa.JSON(), nullable=True, comment="prices of a plan change"),
        sa.Column("actor", sa.String(length=120), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column(
            "source", sa.String(length=32), nullable=False, comment="cli, slack, bill-run, api"
        ),
        sa.Column("idempotency_key", sa.String(length=200), nullable=False),
        sa.Column("recorded_at", UtcDateTime(), nullable=False),
        sa.CheckConstraint(
            "seats IS NULL OR seats >= 1", name=op.f("ck_subscription_events_seats_positive")
        ),
        sa.ForeignKeyConstraint(
            ["subscription_id"],
            ["subscriptions.id"],
            name=op.f("fk_subscription_events_subscription_id_subscriptions"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_subscription_events")),
        sa.UniqueConstraint("idempotency_key", name=op.f("uq_subscription_events_idempotency_key")),
    )
    op.create_index(
        "ix_subscription_events_subscription_effective",
        "subscription_events",
        ["subscription_id", "effective_at"],
        unique=False,
    )
    op.create_table(
        "usage_events",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("subscription_id", sa.String(length=32), nullable=False),
        sa.Column("event_id", sa.String(length=100), nullable=False),
        sa.Column("metric", sa.String(length=64), nullable=False),
        sa.Column("quantity", sa.Numeric(precision=19, scale=6), nullable=False),
        sa.Column("occurred_at", UtcDateTime(), nullable=False),
        sa.Column("received_at", UtcDateTime(), nullable=False),
        sa.Column("invoice_id", sa.Integer(), nullable=True, comment="the invoice that billed it"),
        sa.CheckConstraint("quantity >= 0", name=op.f("ck_usage_events_quantity_non_negative")),
        sa.ForeignKeyConstraint(
            ["invoice_id"], ["invoices.id"], name=op.f("fk_usage_events_invoice_id_invoices")
        ),
        sa.ForeignKeyConstraint(
            ["subscription_id"],
            ["subscriptions.id"],
            name=op.f("fk_usage_events_subscription_id_subscriptions"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_usage_events")),
        sa.UniqueConstraint(
            "subscription_id", "event_id", name=op.f("uq_usage_events_subscription_id")
        ),
    )
    op.create_index(
        "ix_usage_events_subscription_occurred",
        "usage_events",
        ["subscription_id", "occurred_at"],
        unique=False,
    )
    op.create_table(
        "bill_run_items",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("run_date", sa.Date(), nullable=False),
        sa.Column("subscription_id", sa.String(length=32), nullable=False),
        sa.Column("period_start", UtcDateTime(), nullable=False),
        sa.Column(
            "outcome", sa.String(length=16), nullable=False, comment="invoiced, credited, skipped"
        ),
        sa.Column("invoice_id", sa.Integer(), nullable=True),
        sa.Column("currency", sa.String(length=3), nullable=True),
        sa.Column("amount", Money(), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("recorded_at", UtcDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["invoice_id"], ["invoices.id"], name=op.f("fk_bill_run_items_invoice_id_invoices")
        ),
        sa.ForeignKeyConstraint(
            ["subscription_id"],
            ["subscriptions.id"],
            name=op.f("fk_bill_run_items_subscription_id_subscriptions"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_bill_run_items")),
        sa.UniqueConstraint(
            "run_date",
            "subscription_id",
            "period_start",
            name=op.f("uq_bill_run_items_run_date"),
        ),
    )
    op.create_index("ix_bill_run_items_run_date", "bill_run_items", ["run_date"], unique=False)
    # Subscriptions billed before this release: their current period is their newest invoice's.
    op.execute(
        "INSERT INTO subscription_periods "
        "(subscription_id, period_start, period_end, lines_invoiced, updated_at) "
        "SELECT s.id, i.period_start, i.period_end, 0, i.created_at "
        "FROM subscriptions s JOIN invoices i ON i.id = ("
        "SELECT i2.id FROM invoices i2 WHERE i2.subscription_id = s.id "
        "AND i2.period_start IS NOT NULL AND i2.period_end > i2.period_start "
        "ORDER BY i2.period_end DESC, i2.id DESC LIMIT 1)"
    )


def downgrade() -> None:
    """Downgrade schema."""
    op.drop_index("ix_bill_run_items_run_date", table_name="bill_run_items")
    op.drop_table("bill_run_items")
    op.drop_index("ix_usage_events_subscription_occurred", table_name="usage_events")
    op.drop_table("usage_events")
    op.drop_index("ix_subscription_events_subscription_effective", table_name="subscription_events")
    op.drop_table("subscription_events")
    op.drop_index("ix_subscription_periods_period_end", table_name="subscription_periods")
    op.drop_table("subscription_periods")
