"""approval preview

Revision ID: 0010
Revises: 0009
An approval request keeps the exact text its step sends once approved (a
final notice, a suspension email), so that the approver reads the email that
goes out, in Slack and on the command line (workflows/collections.py).

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0010"
down_revision: str | Sequence[str] | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Upgrade schema."""
    with op.batch_alter_table("approval_requests", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "preview",
                sa.Text(),
                nullable=True,
                comment="the exact text the approved step sends, as the approver saw it",
            )
        )


def downgrade() -> None:
    """Downgrade schema."""
    with op.batch_alter_table("approval_requests", schema=None) as batch_op:
        batch_op.drop_column("preview")
