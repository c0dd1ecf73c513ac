"""`billing-ops invoices show INV` and `invoices pdf INV -o FILE`: an invoice as issued."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer

from activities.documents.content import invoice_content
from activities.documents.store import document_bytes, issue_invoice_documents
from activities.ledger import invoices
from activities.ledger.db import open_ledger
from activities.ledger.models import DocumentKind
from activities.settings import settings
from cli.identity import cli_actor
from cli.output import Column, print_table, say

_XML = (DocumentKind.CII_XML, DocumentKind.UBL_XML)


def register(app: typer.Typer) -> None:
    """Add the commands to the `invoices` group."""
    app.command("show")(show)
    app.command("pdf")(pdf)


def show(number: str) -> None:
    """Print an invoice as its document says it: parties, lines, tax, totals, notes."""
    with open_ledger(settings().ledger_url)() as session:
        invoice = invoices.get_invoice(session, number)
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
