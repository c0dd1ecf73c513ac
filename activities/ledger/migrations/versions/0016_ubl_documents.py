"""ubl documents

Revision ID: 0016
Revises: 0015
A document may be a Peppol BIS Billing 3.0 UBL invoice (``ubl_xml``): the
kind's CHECK constraint gains the value. Existing rows are unchanged.

"""

from collections.abc import Sequence

from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0016"
down_revision: str | Sequence[str] | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_BEFORE = ("invoice_pdf", "credit_note_pdf", "cii_xml")
_AFTER = (*_BEFORE, "ubl_xml")


def _kinds(kinds: tuple[str, ...]) -> None:
    with op.batch_alter_table("documents", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_documents_documentkind"), type_="check")
        batch_op.create_check_constraint(
            op.f("ck_documents_documentkind"),
            f"kind IN ({', '.join(repr(kind) for kind in kinds)})",
        )


def upgrade() -> None:
    """Upgrade schema."""
    _kinds(_AFTER)


def downgrade() -> None:
    """Downgrade schema: refused while UBL documents exist (the CHECK would fail)."""
    _kinds(_BEFORE)
