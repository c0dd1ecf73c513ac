"""Ticket replies in Slack: the draft with Send / Edit / Send as internal note, the same
message once decided, the modal that edits the reply, and the reminder in the thread."""

from __future__ import annotations

import json
from typing import Any

from activities.slack_text import escape, quote
from activities.zendesk.messages import draft_seen
from activities.zendesk.review import ReviewNotice
from bot.blocks.kit import Block, button, context, fields, header, plain, section, user
from bot.sealed import seal

SEND = "ticket.send"
EDIT = "ticket.edit"
INTERNAL_NOTE = "ticket.internal_note"
EDIT_MODAL = "ticket.edit_reply"
REPLY_BLOCK = "reply"
REPLY_INPUT = "reply"

_SOURCES = {
    "template": "template",
    "model": "model, every figure checked",
    "model_retry": "model, figures checked after one correction",
    "template_fallback": "template (the model's drafts got figures wrong)",
}


def review_message(notice: ReviewNotice, key: bytes) -> dict[str, Any]:
    """The draft as posted for review, with its three buttons. Their value, the ticket's
    workflow and the digest of the draft shown (:func:`button_value`), is sealed under
    ``key`` (:mod:`bot.sealed`): a button nobody sealed is refused before it decides
    anything, and a click on a draft since replaced decides nothing."""
    blocks = _draft_blocks(notice)
    value = seal(key, button_value(notice.workflow_id, draft_seen(notice.draft.body)))
    blocks.append(
        {
            "type": "actions",
            "block_id": f"ticket:{notice.workflow_id}",
            "elements": [
                {
                    **button("Send", SEND, value, "primary"),
                    "confirm": {
                        "title": plain("Send this reply?"),
                        "text": plain(f"Post it on ticket #{notice.ticket_id} for the customer."),
                        "confirm": plain("Send"),
                        "deny": plain("Cancel"),
                    },
                },
                button("Edit", EDIT, value),
                button("Send as internal note", INTERNAL_NOTE, value),
            ],
        }
    )
    return {"text": _fallback(notice), "blocks": blocks}


def decided_message(notice: ReviewNotice) -> dict[str, Any]:
    """The same message once the reply is posted: no buttons, who decided what."""
    blocks = _draft_blocks(notice)
    who = _actor(notice.decided_by or "")
    outcome = escape(notice.outcome or "")
    blocks.append(context(f":white_check_mark: Posted as {outcome} by {who}"))
    return {"text": f"Ticket #{notice.ticket_id}: {outcome} by {who}", "blocks": blocks}


def reminder_text(notice: ReviewNotice) -> str:
    return f"Ticket #{notice.ticket_id} still waits for someone to send, edit or note this reply."


def button_value(workflow_id: str, seen: str) -> str:
    """What a review button carries: the ticket's workflow and the draft it shows."""
    return f"{workflow_id} {seen}"


def from_button(value: str) -> tuple[str, str | None]:
    """(workflow, digest of the draft shown) from :func:`button_value`; a message posted
    before buttons named their draft gives no digest (it showed the first draft)."""
    workflow_id, _, seen = value.partition(" ")
    return workflow_id, seen or None


def edit_modal(notice_ticket: int, workflow_id: str, body: str, where: tuple[str, str]) -> Block:
    """The reply in an editable box; submitting sends the edited text as a public reply,
    refused if the draft the box opened with has been drafted anew meanwhile."""
    channel, ts = where
    return {
        "type": "modal",
        "callback_id": EDIT_MODAL,
        "title": plain(f"Reply to #{notice_ticket}"[:24]),
        "submit": plain("Send"),
        "close": plain("Cancel"),
        "private_metadata": json.dumps(
            {"workflow_id": workflow_id, "channel": channel, "ts": ts, "seen": draft_seen(body)}
        ),
        "blocks": [
            {
                "type": "input",
                "block_id": REPLY_BLOCK,
                "label": plain("Public reply"),
                "element": {
                    "type": "plain_text_input",
                    "action_id": REPLY_INPUT,
                    "multiline": True,
                    "initial_value": body[:3000],
                    "max_length": 3000,
                },
            }
        ],
    }


def refusal(why: str) -> str:
    return f":no_entry: {escape(why)}"


def _draft_blocks(notice: ReviewNotice) -> list[Block]:
    draft = notice.draft
    blocks: list[Block] = [
        header(f"Ticket #{notice.ticket_id}: {notice.category.replace('_', ' ')}"),
        fields(
            [
                ("Customer", escape(notice.customer)),
                ("From", escape(notice.requester)),
                ("Subject", escape(notice.ticket_subject) or "(none)"),
                ("Draft", escape(_SOURCES.get(draft.source, draft.source))),
            ]
        ),
    ]
    if draft.flags:
        flags = "\n".join(f"• {escape(flag)}" for flag in draft.flags)
        blocks.append(section(f":warning: *Read before sending: the ticket was flagged*\n{flags}"))
    if draft.held:
        blocks.append(section(_held(draft.held)))
    blocks.append(section(f"*{escape(draft.subject)}*\n{quote(draft.body)}"))
    blocks.append(context(escape(draft.approver_summary)))
    return blocks


#: Slack's limit on a section's text is 3,000 characters; each reason is cut to fit.
_HELD_LIMIT = 2900


def _held(reasons: tuple[str, ...]) -> str:
    """Why nobody may send the draft unread: each claim no ledger record backs (first, as
    the draft holds them) and each sentence in the model's own words."""
    lead = ":mag: *Read before sending: not checked against the ledger*"
    room = (_HELD_LIMIT - len(lead)) // len(reasons)
    lines = [
        f"• {escape(reason if len(reason) <= room - 4 else reason[: room - 5] + '…')}"
        for reason in reasons
    ]
    return "\n".join([lead, *lines])[:_HELD_LIMIT]


def _fallback(notice: ReviewNotice) -> str:
    flagged = " (flagged)" if notice.draft.flags else ""
    summary = escape(notice.draft.approver_summary)
    return f"Ticket #{notice.ticket_id} reply to review{flagged}: {summary}"


def _actor(identity: str) -> str:
    channel, _, rest = identity.partition(":")
    if channel == "slack" and rest:
        return user(rest)
    return escape(identity)
