"""Reading a ticket and posting the reply, through ``zenpy``.

A reply is posted at most once per ticket. The update that adds the comment
also adds the :data:`REPLIED_TAG` tag, in the same request, so Zendesk
stores both or neither; every attempt first reads the ticket and stops if
the tag is there. A retry after a timeout whose request did land therefore
finds the tag and posts nothing.

A slow Zendesk may still be working on the first request when the retry
reads the ticket: both would land. So the update is a *safe update*
(``safe_update`` with the ``updated_stamp`` of the ticket as read): Zendesk
refuses it with 409 when the ticket changed since, and the attempt reads the
ticket again. Of two requests sent on the same reading, one lands.
"""

from __future__ import annotations

from io import BytesIO
from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict

from activities.drafting.untrusted import clean
from activities.zendesk.client import CONFLICT, with_retries

if TYPE_CHECKING:
    from zenpy import Zenpy  # loaded with the client (activities/zendesk/client.py)

#: Set with our reply, in the same update: the ticket has had its one reply from billing-ops.
REPLIED_TAG = "billing_ops_replied"
#: Customer text beyond this many characters is cut before it reaches a prompt.
MAX_TEXT = 8000


class TicketView(BaseModel):
    """What the billing queue needs from a ticket, its requester and their organization."""

    model_config = ConfigDict(frozen=True)

    ticket_id: int
    subject: str
    #: The requester's latest public comment (the description when there is none).
    text: str
    status: str
    tags: tuple[str, ...]
    requester_name: str
    requester_email: str | None
    organization_name: str | None = None
    organization_external_id: str | None = None
    #: Invisible and bidi control characters removed from the subject, text and name on
    #: intake: any at all flags the ticket for a person.
    hidden_characters: int = 0

    @property
    def answered(self) -> bool:
        return REPLIED_TAG in self.tags


class ReplyToPost(BaseModel):
    model_config = ConfigDict(frozen=True)

    ticket_id: int
    body: str
    public: bool
    tags: tuple[str, ...] = ()
    #: ``pending`` after a public reply (the customer's turn); None leaves it as is.
    status: str | None = None
    #: Files uploaded with the reply: (file name, media type, bytes).
    attachments: tuple[tuple[str, str, bytes], ...] = ()


def fetch_ticket(client: Zenpy, ticket_id: int) -> TicketView:
    what = f"ticket {ticket_id}"
    ticket = with_retries(lambda: client.tickets(id=ticket_id), what)
    requester = with_retries(lambda: client.users(id=ticket.requester_id), f"{what}: requester")
    organization = None
    organization_id = getattr(requester, "organization_id", None) or ticket.organization_id
    if organization_id:
        organization = with_retries(
            lambda: client.organizations(id=organization_id), f"{what}: organization"
        )
    comments = with_retries(lambda: list(client.tickets.comments(ticket=ticket_id)), what)
    from_requester = [
        c for c in comments if c.public and c.author_id == ticket.requester_id and c.body
    ]
    text = from_requester[-1].body if from_requester else (ticket.description or "")
    subject, body = clean(ticket.subject or ""), clean(text[:MAX_TEXT])
    name = clean(requester.name or requester.email or "there")
    return TicketView(
        ticket_id=ticket_id,
        subject=subject.text,
        text=body.text,
        hidden_characters=subject.removed + body.removed + name.removed,
        status=ticket.status or "new",
        tags=tuple(ticket.tags or ()),
        requester_name=name.text,
        requester_email=requester.email,
        organization_name=getattr(organization, "name", None),
        organization_external_id=getattr(organization, "external_id", None),
    )


def post_reply(client: Zenpy, reply: ReplyToPost) -> bool:
    """Post the reply with its tags and status; False when it had already been posted."""
    from zenpy.lib.api_objects import Comment, Ticket

    def attempt() -> bool:
        current = client.tickets(id=reply.ticket_id)
        if REPLIED_TAG in (current.tags or ()):
            return False
        update = Ticket(id=reply.ticket_id)
        update.safe_update = True
        update.updated_stamp = current.updated_at
        tokens = [
            client.attachments.upload(BytesIO(content), target_name=name, content_type=media).token
            for name, media, content in reply.attachments
        ]
        update.comment = Comment(body=reply.body, public=reply.public, uploads=tokens or None)
        update.additional_tags = [REPLIED_TAG, *reply.tags]
        if reply.status:
            update.status = reply.status
        client.tickets.update(update)
        return True

    return with_retries(attempt, f"ticket {reply.ticket_id}: reply", also_retry=(CONFLICT,))
