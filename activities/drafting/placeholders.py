"""Facts by name: the model writes ``{open_total_USD}``, the product writes ``$1,234.50``.

The model never types a figure. Every amount, date, count, percentage,
invoice number, id and link it may state has a placeholder name built from
the draft's facts; the model's draft names them and :func:`fill` puts in the
values, formatted by the product. A name the facts do not have is an error,
never guessed. With one invoice, ``{invoice.number}`` (and ``.balance``,
``.total``, ``.due_date``, ``.issue_date``) names it; with several,
``{invoice_1.number}``, ``{invoice_2.number}``...; ``{invoice_list}`` lists
them all.
"""

from __future__ import annotations

import re

from activities.billing.money import format_money
from activities.drafting.facts import DraftFacts, InvoiceRef
from activities.drafting.untrusted import quoted

#: ``{name}`` or ``{name.field}``: lower-case names, as the table builds them.
PLACEHOLDER = re.compile(r"\{(?P<name>[a-z][a-z0-9_]*(?:\.[a-z_]+)?)\}", re.IGNORECASE)


def table(facts: DraftFacts) -> dict[str, str]:
    """Every placeholder the facts allow, with the text it stands for."""
    values: dict[str, str] = {"customer_name": quoted(facts.customer_name)}
    for name, money in facts.amounts.items():
        values[name] = format_money(money.amount, money.currency)
    for name, day in facts.dates.items():
        values[name] = day.isoformat()
    for name, count in facts.counts.items():
        values[name] = str(count)
    for name, percent in facts.percentages.items():
        values[name] = f"{percent.normalize():f}%"
    for name, reference in facts.references.items():
        values[name] = reference
    if len(facts.invoices) == 1:
        values |= _invoice("invoice", facts.invoices[0])
    for n, invoice in enumerate(facts.invoices, start=1):
        values |= _invoice(f"invoice_{n}", invoice)
    if facts.invoices:
        values["invoice_list"] = "\n".join(_listing(i) for i in facts.invoices)
    return values


def _invoice(prefix: str, invoice: InvoiceRef) -> dict[str, str]:
    values = {
        f"{prefix}.number": invoice.number,
        f"{prefix}.balance": format_money(invoice.balance, invoice.currency),
    }
    if invoice.total is not None:
        values[f"{prefix}.total"] = format_money(invoice.total, invoice.currency)
    if invoice.due_date is not None:
        values[f"{prefix}.due_date"] = invoice.due_date.isoformat()
    if invoice.issue_date is not None:
        values[f"{prefix}.issue_date"] = invoice.issue_date.isoformat()
    return values


def _listing(invoice: InvoiceRef) -> str:
    due = f"  due {invoice.due_date.isoformat()}" if invoice.due_date else ""
    return f"  {invoice.number}{due}  balance {format_money(invoice.balance, invoice.currency)}"


def named(text: str) -> list[str]:
    """The placeholder names ``text`` uses, in order."""
    return [m.group("name") for m in PLACEHOLDER.finditer(text)]


def unknown(text: str, values: dict[str, str]) -> list[str]:
    """The placeholders in ``text`` that the facts do not have."""
    return sorted({name for name in named(text) if name not in values})


def fill(text: str, values: dict[str, str]) -> str:
    """``text`` with every known placeholder replaced by its value (unknown ones stay)."""
    return PLACEHOLDER.sub(lambda m: values.get(m.group("name"), m.group(0)), text)


def abstract(text: str, values: dict[str, str]) -> str:
    """``text`` with each value written as its placeholder: the template in the model's terms.

    Longer values first (a date before the day inside it); values shorter than
    three characters (counts such as ``2``) stay as written. The first name of
    a value wins when two facts are equal.
    """
    first: dict[str, str] = {}
    for name, value in values.items():
        if name != "invoice_list" and len(value) >= 3:
            first.setdefault(value, name)
    for value in sorted(first, key=len, reverse=True):
        pattern = re.compile(rf"(?<![\w.]){re.escape(value)}(?![\w])")
        text = pattern.sub("{" + first[value].replace("\\", "\\\\") + "}", text)
    return text
