"""invoice documents

Revision ID: 0007
Revises: 0003
What an invoice says is stored with it (seller, buyer, tax id, billing
address, locale, tax category and exemption reason per invoice and line,
legal notes, payment terms and instructions), issued documents are kept as
sent (``documents``), and outbox emails carry documents
(``email_attachments``).

Existing invoices are filled from what the ledger and config hold today and
the migration says, per invoice, what it could not know: the billing
address and tax ids are the customer's at migration time, not at issue; the
legal notes printed then were not stored. Those facts go into each invoice's
``notes`` under ``backfill`` and are logged.
"""

import logging
from collections.abc import Sequence
from decimal import Decimal

import sqlalchemy as sa
from alembic import op

from activities.ledger.types import Money, UtcDateTime

# revision identifiers, used by Alembic.
revision: str = "0007"
down_revision: str | Sequence[str] | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

log = logging.getLogger("alembic.runtime.migration")


def _invoice_columns() -> tuple[sa.Column[object], ...]:
    """The invoice's new columns (fresh objects each time: a Column belongs to one table)."""
    return (
        sa.Column("seller", sa.JSON(), nullable=True, comment="config/seller.yaml at issue"),
        sa.Column("buyer_name", sa.String(length=200), nullable=True),
        sa.Column("buyer_tax_scheme", sa.String(length=16), nullable=True),
        sa.Column("buyer_tax_id", sa.String(length=64), nullable=True),
        sa.Column("billing_address", sa.JSON(), nullable=True, comment="as at issue"),
        sa.Column("locale", sa.String(length=16), nullable=True, comment="dates and amounts"),
        sa.Column(
            "tax_category", sa.String(length=2), nullable=True, comment="EN 16931 / UNCL5305"
        ),
        sa.Column("tax_label", sa.String(length=64), nullable=True),
        sa.Column("tax_exemption_reason", sa.Text(), nullable=True),
        sa.Column("tax_exemption_code", sa.String(length=32), nullable=True, comment="VATEX code"),
        sa.Column("notes", sa.JSON(), nullable=True, comment="{'notes': [legal notes]}"),
        sa.Column("payment_terms", sa.Text(), nullable=True),
        sa.Column("payment_instructions", sa.JSON(), nullable=True),
    )


def upgrade() -> None:
    """Upgrade schema."""
    with op.batch_alter_table("invoices") as batch:
        for column in _invoice_columns():
            batch.add_column(column)
    with op.batch_alter_table("invoice_lines") as batch:
        batch.add_column(
            sa.Column(
                "tax_category", sa.String(length=2), nullable=True, comment="EN 16931 / UNCL5305"
            )
        )
    op.create_table(
        "documents",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("invoice_id", sa.Integer(), nullable=True),
        sa.Column("credit_note_id", sa.Integer(), nullable=True),
        sa.Column(
            "kind",
            sa.Enum(
                "invoice_pdf",
                "credit_note_pdf",
                "cii_xml",
                name="documentkind",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("filename", sa.String(length=120), nullable=False),
        sa.Column("media_type", sa.String(length=64), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("content", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.CheckConstraint(
            "(invoice_id IS NULL) <> (credit_note_id IS NULL)",
            name=op.f("ck_documents_one_subject"),
        ),
        sa.ForeignKeyConstraint(
            ["credit_note_id"],
            ["credit_notes.id"],
            name=op.f("fk_documents_credit_note_id_credit_notes"),
        ),
        sa.ForeignKeyConstraint(
            ["invoice_id"], ["invoices.id"], name=op.f("fk_documents_invoice_id_invoices")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_documents")),
        sa.UniqueConstraint("credit_note_id", "kind", name=op.f("uq_documents_credit_note_id")),
        sa.UniqueConstraint("invoice_id", "kind", name=op.f("uq_documents_invoice_id")),
    )
    op.create_index(op.f("ix_documents_invoice_id"), "documents", ["invoice_id"])
    op.create_index(op.f("ix_documents_credit_note_id"), "documents", ["credit_note_id"])
    op.create_table(
        "email_attachments",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("email_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("document_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["document_id"],
            ["documents.id"],
            name=op.f("fk_email_attachments_document_id_documents"),
        ),
        sa.ForeignKeyConstraint(
            ["email_id"],
            ["email_outbox.id"],
            name=op.f("fk_email_attachments_email_id_email_outbox"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_email_attachments")),
        sa.UniqueConstraint("email_id", "position", name=op.f("uq_email_attachments_email_id")),
    )
    op.create_index(op.f("ix_email_attachments_email_id"), "email_attachments", ["email_id"])
    _backfill()


def downgrade() -> None:
    """Downgrade schema."""
    op.drop_index(op.f("ix_email_attachments_email_id"), table_name="email_attachments")
    op.drop_table("email_attachments")
    op.drop_index(op.f("ix_documents_credit_note_id"), table_name="documents")
    op.drop_index(op.f("ix_documents_invoice_id"), table_name="documents")
    op.drop_table("documents")
    with op.batch_alter_table("invoice_lines") as batch:
        batch.drop_column("tax_category")
    with op.batch_alter_table("invoices") as batch:
        for column in reversed(_invoice_columns()):
            batch.drop_column(column.name)


# --- Filling existing invoices ------------------------------------------------------

_meta = sa.MetaData()
_invoices = sa.Table(
    "invoices",
    _meta,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("number", sa.String),
    sa.Column("customer_id", sa.String),
    sa.Column("currency", sa.String),
    sa.Column("issue_date", sa.Date),
    sa.Column("due_date", sa.Date),
    sa.Column("tax_total", Money()),
    *_invoice_columns(),
)
_lines = sa.Table(
    "invoice_lines",
    _meta,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("invoice_id", sa.Integer),
    sa.Column("tax_rate", sa.Numeric(9, 6)),
    sa.Column("tax_category", sa.String(2)),
)
_customers = sa.Table(
    "customers",
    _meta,
    sa.Column("id", sa.String, primary_key=True),
    sa.Column("legal_name", sa.String),
    sa.Column("country", sa.String),
    sa.Column("address_line1", sa.String),
    sa.Column("address_line2", sa.String),
    sa.Column("city", sa.String),
    sa.Column("region", sa.String),
    sa.Column("postal_code", sa.String),
    sa.Column("tax_exempt", sa.Boolean),
)
_tax_ids = sa.Table(
    "tax_ids",
    _meta,
    sa.Column("customer_id", sa.String),
    sa.Column("scheme", sa.String),
    sa.Column("value", sa.String),
)


def _backfill() -> None:
    """Fill every existing invoice with what can be known now, and say what cannot."""
    # Imported here: the schema steps above must not depend on config being readable.
    from activities.billing.seller import SellerError, load_seller
    from activities.billing.tax import EXEMPT, REVERSE_CHARGE, STANDARD, TaxError, load_tax_table
    from activities.ledger.invoices import TAX_ID_SCHEMES, document_locale

    bind = op.get_bind()
    invoices = bind.execute(sa.select(_invoices).where(_invoices.c.seller.is_(None))).all()
    if not invoices:
        return
    try:
        seller = load_seller()
    except SellerError as error:
        seller = None
        log.warning("0007: config/seller.yaml unreadable (%s): seller left empty", error)
    try:
        table = load_tax_table()
    except TaxError:
        table = None
    customers = {row.id: row for row in bind.execute(sa.select(_customers))}
    tax_ids: dict[str, dict[str, str]] = {}
    for row in bind.execute(sa.select(_tax_ids)):
        tax_ids.setdefault(row.customer_id, {})[row.scheme] = row.value
    rates: dict[int, set[Decimal]] = {}
    for row in bind.execute(sa.select(_lines.c.invoice_id, _lines.c.tax_rate)):
        rates.setdefault(row.invoice_id, set()).add(Decimal(row.tax_rate))
    unsure = 0
    for invoice in invoices:
        customer = customers[invoice.customer_id]
        held = tax_ids.get(customer.id, {})
        scheme = next((s for s in (*TAX_ID_SCHEMES, *sorted(held)) if s in held), None)
        missing = [
            "billing address and buyer tax id are the customer's at migration, not at issue",
            "legal notes printed at issue were not stored",
        ]
        category, reason, code = _category(invoice, customer, held, rates, table)
        if category is None:
            missing.append("tax category unknown (several rates, or no tax without a reason)")
        elif category in (EXEMPT, REVERSE_CHARGE):
            missing.append(f"tax category {category} inferred from the customer at migration")
        if seller is None:
            missing.append("seller and payment instructions: config/seller.yaml unreadable")
        days = (invoice.due_date - invoice.issue_date).days
        bind.execute(
            _invoices.update()
            .where(_invoices.c.id == invoice.id)
            .values(
                seller=seller.snapshot() if seller else None,
                buyer_name=customer.legal_name,
                buyer_tax_scheme=scheme,
                buyer_tax_id=held.get(scheme) if scheme else None,
                billing_address={
                    "line1": customer.address_line1,
                    "line2": customer.address_line2,
                    "city": customer.city,
                    "region": customer.region,
                    "postal_code": customer.postal_code,
                    "country": customer.country,
                },
                locale=document_locale(customer.country),
                tax_category=category,
                tax_exemption_reason=reason,
                tax_exemption_code=code,
                notes={"notes": [], "backfill": missing},
                payment_terms=seller.terms_text(days) if seller else None,
                payment_instructions=seller.instructions_for(invoice.currency).model_dump(
                    mode="json", exclude_none=True
                )
                if seller
                else None,
            )
        )
        if category is not None:
            bind.execute(
                _lines.update()
                .where(_lines.c.invoice_id == invoice.id)
                .values(tax_category=category)
            )
        if category is None or category != STANDARD:
            unsure += 1
    log.warning(
        "0007: filled %d existing invoice(s) from today's customer records; addresses and tax "
        "ids are as at migration, legal notes were not stored; %d have an inferred or unknown "
        "tax category (see each invoice's notes.backfill)",
        len(invoices),
        unsure,
    )


def _category(
    invoice: sa.Row[tuple[object, ...]],
    customer: sa.Row[tuple[object, ...]],
    held: dict[str, str],
    rates: dict[int, set[Decimal]],
    table: object,
) -> tuple[str | None, str | None, str | None]:
    """The invoice's VAT category from its lines' rates and the customer as it is now."""
    from activities.billing.tax import EXEMPT, REVERSE_CHARGE, STANDARD, ZERO_RATED, TaxTable

    found = rates.get(int(str(invoice.id)), set())
    if len(found) != 1:
        return None, None, None
    (rate,) = found
    if rate > 0:
        return STANDARD, None, None
    if customer.tax_exempt:
        return EXEMPT, "Exempt customer: exemption certificate on file", None
    if (
        isinstance(table, TaxTable)
        and held.get("eu_vat")
        and customer.country in table.reverse_charge_countries
        and customer.country != table.seller_country
    ):
        return REVERSE_CHARGE, table.reverse_charge_note, "VATEX-EU-AE"
    if isinstance(table, TaxTable) and customer.country in table.rates:
        return ZERO_RATED, None, None
    return None, None, None
