"""The drafting activity, for workflows that draft as a step of their own (ticket replies).

Activities that already render and send in one step (the collections email)
call :meth:`Drafter.draft` directly instead; both paths are the same code.
"""

from __future__ import annotations

from jinja2 import TemplateError
from sqlalchemy.orm import Session, sessionmaker
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.drafting.compose import Drafter
from activities.drafting.facts import Draft, DraftRequest
from activities.drafting.model import chat_model
from activities.settings import Settings


def build_drafter(settings: Settings, sessions: sessionmaker[Session]) -> Drafter:
    """The worker's drafter: the configured model, or templates only without an API key."""
    return Drafter(sessions, chat_model(settings))


class DraftingActivities:
    def __init__(self, drafter: Drafter) -> None:
        self.drafter = drafter

    @activity.defn(name="drafting.draft_message")
    def draft_message(self, request: DraftRequest) -> Draft:
        """Draft one message; a broken template fails for good (a retry renders it no better)."""
        try:
            return self.drafter.draft(request)
        except (TemplateError, ValueError) as error:
            raise ApplicationError(
                f"{request.kind}: {error}", type=type(error).__name__, non_retryable=True
            ) from None
