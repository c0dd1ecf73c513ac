"""outbox delivery state

Revision ID: 0009
Revises: 0003
An outbox email records when it was last handed to the transport and how
many times, before the transport is called: a retry that finds "sending"
without "sent" knows the email may already have gone out, and re-sends it
with the same Message-ID (activities/outbox.py).

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from activities.ledger.types import UtcDateTime

# revision identifiers, used by Alembic.
revision: str = "0009"
down_revision: str | Sequence[str] | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Upgrade schema."""
    with op.batch_alter_table("email_outbox", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "sending_at",
                UtcDateTime(),
                nullable=True,
                comment="last handed to the transport; with no sent_at, it may have gone out",
            )
        )
        batch_op.add_column(sa.Column("attempts", sa.Integer(), server_default="0", nullable=False))


def downgrade() -> None:
    """Downgrade schema."""
    with op.batch_alter_table("email_outbox", schema=None) as batch_op:
        batch_op.drop_column("attempts")
        batch_op.drop_column("sending_at")
