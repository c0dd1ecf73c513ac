"""Showing a drafted ticket reply to the people who may send it.

:class:`ReviewNotifier` is the seam: the worker plugs in the Slack notifier
(``bot/ticket_review.py``: the draft with Send / Edit / Send as internal note
buttons, edited in place once decided); without Slack, :class:`LogReviewNotifier`
writes one line per notice to the ``billing_ops.tickets`` log.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Literal, Protocol

from pydantic import BaseModel, ConfigDict

from activities.drafting.facts import Draft

log = logging.getLogger("billing_ops.tickets")

NoticeKind = Literal["requested", "reminder", "decided"]


class ReviewNotice(BaseModel):
    model_config = ConfigDict(frozen=True)

    kind: NoticeKind
    workflow_id: str
    ticket_id: int
    ticket_subject: str
    requester: str
    customer: str
    category: str
    channel: str
    draft: Draft
    #: The workflow's now when the notice was sent.
    at: datetime
    decided_by: str | None = None
    outcome: str | None = None

    def text(self) -> str:
        """The notice as one line of plain text."""
        if self.kind == "decided":
            return f"ticket #{self.ticket_id}: {self.outcome} by {self.decided_by}"
        lead = "reply drafted" if self.kind == "requested" else "reply still waits for review"
        flags = f"; FLAGGED: {'; '.join(self.draft.flags)}" if self.draft.flags else ""
        if self.draft.held:
            flags += f"; HELD: {'; '.join(self.draft.held)}"
        return (
            f"ticket #{self.ticket_id} ({self.category}, {self.customer}, from {self.requester}): "
            f"{lead} ({self.draft.source}): {self.draft.approver_summary}{flags}"
        )


class ReviewNotifier(Protocol):
    def post(self, notice: ReviewNotice) -> None: ...


class LogReviewNotifier:
    """The default channel: a log line that the worker's console and log file show."""

    def post(self, notice: ReviewNotice) -> None:
        log.info(notice.text())
