"""The App Home tab: what waits for the person who opens it, and what the team watches today."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from activities.ledger.models import ApprovalRequest
from activities.slack_text import channel_link, escape
from bot.blocks.answers import approval_line
from bot.blocks.kit import Block, context, divider, header, money, section

#: Rows per list on the tab; the rest are counted.
HOME_LIST_LIMIT = 10


@dataclass(frozen=True, slots=True)
class PromiseDue:
    customer_id: str
    legal_name: str
    amount: Decimal
    currency: str
    recorded_by: str


@dataclass(frozen=True, slots=True)
class Escalation:
    customer_id: str
    legal_name: str
    stage: str
    overdue: str


def home_view(
    today: date,
    approvals: Sequence[ApprovalRequest],
    escalations: Sequence[Escalation],
    promises: Sequence[PromiseDue],
) -> dict[str, Any]:
    blocks: list[Block] = [
        header("Billing ops"),
        context(f"As of {today:%A %d %B %Y}. Type `/billing help` for commands."),
        divider(),
        *_list(
            f"Approvals waiting for you ({len(approvals)})",
            [_approval(row) for row in approvals],
            "Nothing waits for your decision.",
        ),
        divider(),
        *_list(
            f"Accounts in escalation ({len(escalations)})",
            [
                f"*{escape(e.legal_name)}* (`{escape(e.customer_id)}`) · {escape(e.stage)}\n"
                f"overdue {e.overdue}"
                for e in escalations
            ],
            "No account is in escalation.",
        ),
        divider(),
        *_list(
            f"Promises to pay due today ({len(promises)})",
            [
                f"*{escape(p.legal_name)}* (`{escape(p.customer_id)}`) · "
                f"{money(p.amount, p.currency)}\nrecorded by {escape(p.recorded_by)}"
                for p in promises
            ],
            "No promise falls due today.",
        ),
    ]
    return {"type": "home", "blocks": blocks}


def _approval(row: ApprovalRequest) -> str:
    line = approval_line(row)
    if row.slack_channel:
        line += f" · in {channel_link(row.slack_channel)}"
    return line


def _list(title: str, lines: list[str], empty: str) -> list[Block]:
    shown = lines[:HOME_LIST_LIMIT]
    if len(lines) > len(shown):
        shown.append(f"…and {len(lines) - len(shown)} more")
    return [section(f"*{title}*"), *(section(line) for line in shown or [empty])]
