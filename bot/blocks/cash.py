"""The Slack message for one imported statement: the lines left for review, each with the
matcher's best candidates as buttons. Payer names and remittance texts are the payer's
words: escaped, shown as sent, never a mention or a link."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from activities.billing.money import format_money
from activities.slack_text import escape
from bot.blocks.kit import Block, button, context, header, section

APPLY = "cash_apply"
LEAVE = "cash_leave"
#: Lines shown per message (Slack allows 50 blocks; three per line, and the header).
LINES_SHOWN = 15
CANDIDATES_SHOWN = 2


@dataclass(frozen=True, slots=True)
class Candidate:
    index: int
    customer_id: str
    invoices: tuple[str, ...]
    confidence: float


@dataclass(frozen=True, slots=True)
class ReviewLine:
    line_id: int
    amount: Decimal
    currency: str
    payer_name: str
    remittance: str
    candidates: tuple[Candidate, ...]


def statement_batch(source: str, applied: int, lines: list[ReviewLine]) -> list[Block]:
    blocks: list[Block] = [
        header(f"Bank statement {source}: {applied} applied, {len(lines)} for review")
    ]
    for line in lines[:LINES_SHOWN]:
        blocks.append(
            section(
                f"*Line {line.line_id}* · {format_money(line.amount, line.currency)}\n"
                f"Payer (as sent): {escape(line.payer_name) or '—'}\n"
                f"Remittance (as sent): {escape(line.remittance) or '—'}"
            )
        )
        buttons = [
            button(
                f"Apply: {c.customer_id} {' + '.join(c.invoices)} ({c.confidence:.2f})"[:75],
                APPLY,
                f"{line.line_id}:{c.index}",
            )
            for c in line.candidates[:CANDIDATES_SHOWN]
            if c.invoices
        ]
        buttons.append(button("Leave unapplied", LEAVE, str(line.line_id)))
        blocks.append({"type": "actions", "block_id": f"cash:{line.line_id}", "elements": buttons})
        blocks.append(
            context(f"Split or refund: `billing-ops cash review split|refund {line.line_id}`")
        )
    if len(lines) > LINES_SHOWN:
        blocks.append(context(f"{len(lines) - LINES_SHOWN} more: `billing-ops cash review list`"))
    return blocks
