"""Telling people about an approval request: asked, reminded, escalated, decided.

:class:`Notifier` is the seam where Slack plugs in (the Slack issue adds a
notifier that posts Block Kit with approve/reject buttons and updates the
message in place). Until then :class:`LogNotifier` writes one line per
message to the ``billing_ops.approvals`` log, which the worker prints, and
people act from the command line.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Literal, Protocol

from activities.approvals.matrix import Person

NoticeKind = Literal["requested", "reminder", "escalated", "decided"]

log = logging.getLogger("billing_ops.approvals")


@dataclass(frozen=True, slots=True)
class ApprovalMessage:
    """Everything a channel needs to show one approval event to people."""

    request_id: str
    kind: NoticeKind
    action: str
    summary: str
    #: Empty for a request without an amount (its summary says what is owed).
    amount: str
    customer_id: str | None
    requested_by: str
    role: str
    recipients: tuple[Person, ...]
    due_at: datetime | None
    outcome: str | None = None
    decided_by: str | None = None
    reason: str | None = None
    #: The exact text the step sends once approved; requests show it in full.
    preview: str | None = None

    def text(self) -> str:
        """The message as one line of plain text."""
        who = ", ".join(p.handle for p in self.recipients) or "nobody"
        subject = " ".join(filter(None, (self.action, self.amount))) + (
            f" for {self.customer_id}" if self.customer_id else ""
        )
        if self.kind == "decided":
            return (
                f"approval {self.request_id}: {subject} {self.outcome} by {self.decided_by}: "
                f"{self.reason}"
            )
        lead = {
            "requested": "needs approval",
            "reminder": "still waits for a decision",
            "escalated": "escalated for a decision",
        }[self.kind]
        due = f" by {self.due_at:%Y-%m-%d %H:%M} UTC" if self.due_at else ""
        sends = f"\nOn approval this is sent, exactly:\n{self.preview}" if self.preview else ""
        return (
            f"approval {self.request_id}: {subject} {lead} from {self.role} ({who}){due}; "
            f"requested by {self.requested_by}: {self.summary}. Decide with "
            f"`billing-ops approvals decide {self.request_id} approve|reject --as USER "
            f'--reason "..."`{sends}'
        )


class Notifier(Protocol):
    def post(self, message: ApprovalMessage) -> None: ...


class LogNotifier:
    """The default channel: a log line that the worker's console and log file show."""

    def post(self, message: ApprovalMessage) -> None:
        log.info(message.text())
