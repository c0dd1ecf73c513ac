"""`billing-ops invoices show INV` and `invoices pdf INV -o FILE`: an invoice as issued."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Annotated

import typer

from activities.documents.content import invoice_content
from activities.documents.store import document_bytes, issue_invoice_documents
from activities.ledger import invoices
from activities.ledger.db import open_ledger
from activities.ledger.models import DocumentKind, Invoice
from activities.settings import settings
from cli.identity import cli_actor
from cli.output import (
    Amount,
    Cell,
    Column,
    Field,
    FormatOption,
    OutputFormat,
    print_record,
    print_table,
    say,
)

#: ``invoices show --format csv``: the lines as the ledger holds them.
_LINE_COLUMNS = (
    Column("description"),
    Column("period"),
    Column("quantity", "number"),
    Column("unit", "number"),
    Column("amount", "amount"),
    Column("discount", "amount"),
    Column("tax rate", "number"),
    Column("tax", "amount"),
)

_XML = (DocumentKind.CII_XML, DocumentKind.UBL_XML)


def register(app: typer.Typer) -> None:
    """Add the commands to the `invoices` group."""
    app.command("show")(show)
    app.command("pdf")(pdf)


def show(number: str, output: FormatOption = OutputFormat.TABLE) -> None:
    """Print an invoice as its document says it: parties, lines, tax, totals, notes.

    ``--format json`` prints the ledger's figures of the invoice and its lines; ``csv``
    the lines.
    """
    with open_ledger(settings().ledger_url)() as session:
        invoice = invoices.get_invoice(session, number)
        if output is not OutputFormat.TABLE:
            record, lines = _invoice_record(invoice)
            print_record(record, output, table=(_LINE_COLUMNS, lines))
            return
        content = invoice_content(invoice)
        status = invoice.status.value
        balance = invoice.balance
    say((f"{content.title} {content.number}", "bold"), f" ({status})")
    for label, value in content.facts:
        say(f"  {label}: {value}")
    for party in (content.seller, content.buyer):
        say(f"{party.role}: {party.name}")
        for line in party.lines:
            say(f"  {line}")
    print_table(
        [
            Column("description"),
            Column("qty", "number"),
            Column("unit", "amount"),
            Column("amount", "amount"),
            Column("discount", "amount", drop=1),
            Column("tax", "number", drop=2),
            Column("net", "amount"),
        ],
        [
            (
                f"{row.description}\n{row.period}".strip(),
                row.quantity,
                row.unit_amount,
                row.amount,
                row.discount,
                row.tax_rate,
                row.net,
            )
            for row in content.rows
        ],
    )
    for tax_row in content.tax_rows:
        say(f"  {tax_row.label}: {tax_row.tax} on {tax_row.taxable}")
    for label, value in (*content.totals, content.due):
        say(f"  {label}: {value}")
    say(f"  open balance: {balance} {invoice.currency}")
    for line in (*content.notes, *content.payment):
        say(line)


def _plain_decimal(value: Decimal) -> str:
    """A quantity or unit price as written, without the column's trailing zeros."""
    return f"{value.normalize():f}"


def _invoice_record(invoice: Invoice) -> tuple[dict[str, Field], list[list[Cell]]]:
    """The invoice's ledger figures (one object) and its lines (rows of ``_LINE_COLUMNS``)."""
    currency = invoice.currency
    lines: list[list[Cell]] = [
        [
            line.description,
            " – ".join(
                f"{at:%Y-%m-%d}" for at in (line.period_start, line.period_end) if at is not None
            ),
            _plain_decimal(line.quantity),
            _plain_decimal(line.unit_amount),
            Amount(line.amount, currency),
            Amount(line.discount_amount, currency),
            _plain_decimal(line.tax_rate),
            Amount(line.tax_amount, currency),
        ]
        for line in sorted(invoice.lines, key=lambda line: line.position)
    ]
    record: dict[str, Field] = {
        "number": invoice.number,
        "status": invoice.status.value,
        "customer_id": invoice.customer_id,
        "subscription_id": invoice.subscription_id,
        "currency": currency,
        "issue_date": invoice.issue_date.isoformat(),
        "due_date": invoice.due_date.isoformat(),
        "po_number": invoice.po_number,
        **{
            name: Amount(getattr(invoice, name), currency)
            for name in (
                "subtotal",
                "discount_total",
                "tax_total",
                "total",
                "credit_applied",
                "amount_due",
                "balance",
            )
        },
        "lines": [
            {
                column.name.replace(" ", "_"): cell
                for column, cell in zip(_LINE_COLUMNS, row, strict=True)
            }
            for row in lines
        ],
    }
    return record, lines


def pdf(
    number: str,
    output: Annotated[Path, typer.Option("-o", "--output", help="Where to write the PDF")],
    xml: Annotated[
        bool,
        typer.Option(
            help="Write the e-invoice XML instead: the Peppol UBL for a customer "
            "config/peppol.yaml names, else the EN 16931 CII"
        ),
    ] = False,
    as_user: Annotated[str | None, typer.Option("--as")] = None,
) -> None:
    """Write the invoice's PDF (issued and stored on first use, the stored bytes after)."""
    if output.is_dir():
        raise ValueError(f"--output: {output} is a folder; give a file name")
    if not output.parent.is_dir():
        raise ValueError(f"--output: folder {output.parent} does not exist")
    actor = cli_actor(as_user)
    with open_ledger(settings().ledger_url).begin() as session:
        invoice = invoices.get_invoice(session, number)
        documents = issue_invoice_documents(session, invoice, actor=actor, now=datetime.now(UTC))
        wanted = [d for d in documents if (d.kind in _XML) == xml]
        wanted.sort(key=lambda d: d.kind != DocumentKind.UBL_XML)  # Peppol customers get UBL
        if not wanted:
            raise ValueError(
                f"invoice {number}: no e-invoice; its buyer receives neither EN 16931 CII "
                "nor Peppol UBL"
            )
        content = document_bytes(wanted[0])
        filename = wanted[0].filename
    partial = output.with_name(f".{output.name}.partial")
    partial.write_bytes(content)
    os.replace(partial, output)
    say(f"{filename} written to {output} ({len(content)} bytes)")
