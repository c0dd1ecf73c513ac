"""What the rest of the product sends to a ticket workflow and reads back from it.

One workflow per Zendesk ticket, with the id ``ticket-<ticket id>``, started
by the Zendesk webhook. A person decides the drafted reply with the
``tickets.decide`` update (Slack's Send / Edit / Send as internal note
buttons, or a test); every webhook event on the ticket signals
``tickets.changed``; the ``tickets.status`` query shows where the ticket is
and ``tickets.draft`` the drafted reply (what the Edit button starts from).
"""

from __future__ import annotations

import hashlib
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

WORKFLOW_TYPE = "Ticket"
DECIDE_UPDATE = "tickets.decide"
STATUS_QUERY = "tickets.status"
DRAFT_QUERY = "tickets.draft"
#: Sent by the webhook with every event on the ticket (signal-with-start): the requester may
#: have written again, so a draft still waiting for review is checked against the ticket.
TICKET_CHANGED_SIGNAL = "tickets.changed"


def workflow_id(ticket_id: int) -> str:
    return f"ticket-{ticket_id}"


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True)


class TicketStart(_Model):
    ticket_id: int = Field(gt=0)


class ReplyDecision(_Model):
    """A reviewer's decision on the drafted reply.

    ``send`` posts a public reply, ``internal_note`` posts it for agents only;
    ``body``, when given, replaces the draft (the Edit button). ``by`` is who
    decided: ``slack:U0ANALYST1``, ``cli:ana``.
    """

    action: Literal["send", "internal_note"]
    by: str = Field(min_length=1)
    body: str | None = Field(default=None, min_length=1, max_length=20000)
    #: :func:`draft_seen` of the draft the reviewer was shown (the review message's, or the
    #: one the Edit modal opened with). The workflow refuses the decision when its draft
    #: is another by then: the customer wrote again and the reply was drafted anew, and
    #: nobody decides on a reply they have not read. Slack's buttons always carry it.
    seen: str | None = Field(default=None, pattern=r"^[0-9a-f]{16}$")


def draft_seen(body: str) -> str:
    """A short digest of a draft's text: what a decision says its reviewer read."""
    return hashlib.sha256(body.encode()).hexdigest()[:16]


Stage = Literal["fetching", "triaging", "drafting", "awaiting_review", "posting", "done"]


class TicketState(_Model):
    ticket_id: int
    stage: Stage
    category: str | None = None
    customer_id: str | None = None
    draft_source: str | None = None
    flags: tuple[str, ...] = ()
    dispute_id: str | None = None
    decided_by: str | None = None
    outcome: str | None = None


Outcome = Literal["public_reply", "internal_note", "already_answered"]


class TicketOutcome(_Model):
    ticket_id: int
    outcome: Outcome
    category: str | None = None
    decided_by: str | None = None
    dispute_id: str | None = None
