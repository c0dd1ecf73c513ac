"""Approval requests in Slack: the message with its buttons, the same message once decided,
the modal that asks for a reason, and the thread replies for reminders and escalations."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from activities.slack_text import escape, quote
from bot.blocks.kit import (
    SECTION_TEXT_LIMIT,
    Block,
    button,
    fields,
    header,
    plain,
    section,
    when,
)

APPROVE = "approval.approve"
REJECT = "approval.reject"
REQUEST_CHANGES = "approval.request_changes"
REASON_MODAL = "approval.reason"
REASON_BLOCK = "reason"
REASON_INPUT = "reason"

_STATUS = {
    "approved": (":white_check_mark:", "Approved"),
    "rejected": (":x:", "Rejected"),
    "changes_requested": (":leftwards_arrow_with_hook:", "Changes requested"),
    "withdrawn": (":heavy_minus_sign:", "Withdrawn"),
}


@dataclass(frozen=True, slots=True)
class ApprovalFacts:
    """One request as people read it: actors already rendered as mentions or names."""

    request_id: str
    action: str
    #: ``None`` for a request without an amount (its summary states what is owed).
    amount: str | None
    customer_id: str | None
    summary: str
    requested_by: str
    role: str
    approvers: tuple[str, ...]
    due_at: datetime | None
    status: str = "pending"
    decided_by: str | None = None
    decided_at: datetime | None = None
    reason: str | None = None
    #: The exact text the step sends once approved, shown in full with the request.
    preview: str | None = None

    @property
    def title(self) -> str:
        subject = self.action.replace("_", " ") + (f" {self.amount}" if self.amount else "")
        return subject + (f" for {self.customer_id}" if self.customer_id else "")


def request_message(facts: ApprovalFacts) -> dict[str, Any]:
    """The request as posted: the facts, who must decide, and the three buttons."""
    blocks = [*_facts_blocks(facts, f"Approval needed: {facts.title}")]
    blocks.append(
        {
            "type": "actions",
            "block_id": f"approval:{facts.request_id}",
            "elements": [
                {
                    **button("Approve", APPROVE, facts.request_id, "primary"),
                    "confirm": {
                        "title": plain("Approve?"),
                        "text": plain(f"Approve {facts.title}?"),
                        "confirm": plain("Approve"),
                        "deny": plain("Cancel"),
                    },
                },
                button("Reject", REJECT, facts.request_id, "danger"),
                button("Request changes", REQUEST_CHANGES, facts.request_id),
            ],
        }
    )
    return {"text": f"Approval needed: {escape(facts.title)}", "blocks": blocks}


def decided_message(facts: ApprovalFacts) -> dict[str, Any]:
    """The same message after the decision: no buttons; the outcome, who, when and why."""
    icon, label = _STATUS.get(facts.status, (":grey_question:", facts.status))
    decided = when(facts.decided_at) if facts.decided_at else "just now"
    line = f"{icon} *{label}* by {facts.decided_by or 'someone'} · {decided}"
    if facts.reason:
        line += f"\n{quote(facts.reason)}"
    blocks = [*_facts_blocks(facts, f"{label}: {facts.title}"), section(line)]
    return {"text": f"{label}: {escape(facts.title)}", "blocks": blocks}


def _facts_blocks(facts: ApprovalFacts, title: str) -> list[Block]:
    who = " ".join(facts.approvers) or "nobody holds the role"
    pairs = [
        ("Requested by", facts.requested_by),
        ("Needs", f"{facts.role.replace('_', ' ')}: {who}"),
    ]
    if facts.due_at and facts.status == "pending":
        pairs.append(("Due", when(facts.due_at)))
    pairs.append(("Request", f"`{escape(facts.request_id)}`"))
    blocks = [header(title), section(escape(facts.summary)), fields(pairs)]
    if facts.preview:
        blocks += _preview_blocks(facts.preview)
    return blocks


#: A raw piece of at most 500 characters is at most 2,501 once escaped (``&`` becomes five)
#: and quoted: it fits a section (Slack's limit, which ``section`` would otherwise cut at).
_PIECE = 500


def _preview_blocks(preview: str) -> list[Block]:
    """The text the step sends, in full: escaped, quoted, spread over as many sections as it
    needs, split only at line ends (or inside an over-long line): nothing is cut."""
    lines = [
        quote(line[start : start + _PIECE])
        for line in preview.splitlines() or [""]
        for start in range(0, max(len(line), 1), _PIECE)
    ]
    sections: list[list[str]] = [["*On approval, exactly this is sent:*"]]
    for line in lines:
        if sum(len(x) + 1 for x in sections[-1]) + len(line) > SECTION_TEXT_LIMIT:
            sections.append([])
        sections[-1].append(line)
    return [section("\n".join(chunk)) for chunk in sections]


def follow_up(facts: ApprovalFacts, kind: str) -> str:
    """A thread reply that notifies the people who must now act."""
    who = " ".join(facts.approvers) or "nobody holds the role"
    due = f" by {when(facts.due_at)}" if facts.due_at else ""
    if kind == "escalated":
        return f":arrow_up: Escalated to {facts.role.replace('_', ' ')}: {who}, please decide{due}."
    return f":alarm_clock: Reminder: {who}, this still waits for your decision{due}."


def reason_modal(
    facts: ApprovalFacts, action_id: str, channel: str | None, ts: str | None
) -> dict[str, Any]:
    """Ask for the reason of a rejection or a request for changes."""
    rejecting = action_id == REJECT
    metadata = {"request_id": facts.request_id, "action": action_id, "channel": channel, "ts": ts}
    return {
        "type": "modal",
        "callback_id": REASON_MODAL,
        "private_metadata": json.dumps(metadata),
        "title": plain("Reject request" if rejecting else "Request changes"),
        "submit": plain("Reject" if rejecting else "Send"),
        "close": plain("Cancel"),
        "blocks": [
            section(f"*{escape(facts.title)}*\n{escape(facts.summary)}"),
            {
                "type": "input",
                "block_id": REASON_BLOCK,
                "label": plain("Why?" if rejecting else "What should change?"),
                "element": {
                    "type": "plain_text_input",
                    "action_id": REASON_INPUT,
                    "multiline": True,
                    "max_length": 2000,
                },
            },
        ],
    }


def refusal(why: str) -> str:
    return f":no_entry: {escape(why)}"
