"""The same ticket's events at the same instant: Zendesk delivering one webhook twice at once,
and the customer writing again while the drafted reply waits for a person."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

from sqlalchemy.orm import Session, sessionmaker
from temporalio.client import WorkflowUpdateFailedError
from temporalio.testing import WorkflowEnvironment

from activities.approvals.matrix import ApprovalMatrix
from activities.ledger import audit
from activities.ledger.models import Dispute
from activities.zendesk.activities import PostReply, ZendeskActivities
from activities.zendesk.client import zendesk_client
from activities.zendesk.messages import ReplyDecision
from activities.zendesk.policy import TicketPolicy
from activities.zendesk.review import LogReviewNotifier
from tests.conftest import NOW
from tests.zendesk.conftest import ACME_CONTACT, billing_queue, zendesk_settings
from tests.zendesk.fake_zendesk import Failure, FakeZendesk

ANALYST = "slack:U0ANALYST1"


def _body(ticket_id: int) -> bytes:
    return json.dumps({"ticket_id": ticket_id}).encode()


async def test_one_webhook_delivered_five_times_at_once_answers_the_ticket_once(
    time_skipping_env: WorkflowEnvironment,
    book: sessionmaker[Session],
    zendesk: FakeZendesk,
    policy: TicketPolicy,
    matrix: ApprovalMatrix,
    tmp_path: Path,
) -> None:
    zendesk.add_ticket(
        120, subject="Receipt", body="Please send the receipt PDF.", requester=ACME_CONTACT
    )
    auto = policy.model_copy(update={"auto_send": ("invoice_copy",)})
    async with billing_queue(time_skipping_env, book, zendesk, auto, matrix, tmp_path) as queue:
        answers = await asyncio.gather(*(queue.webhook(_body(120)) for _ in range(5)))
        assert {status for status, _ in answers} <= {202, 200}
        assert (await queue.handle(120).result()).outcome == "public_reply"
        again = await asyncio.gather(*(queue.webhook(_body(120)) for _ in range(3)))
        assert [a["status"] for _, a in again] == ["already handled"] * 3
    assert len(zendesk.replies(120)) == 1
    with book() as session:
        posted = [
            e
            for e in audit.history(session, "customer", "CUS-0001")
            if e.action.startswith("zendesk.")
        ]
    assert len(posted) == 1


async def test_the_customer_writing_again_during_review_is_read_before_anything_is_sent(
    time_skipping_env: WorkflowEnvironment,
    book: sessionmaker[Session],
    zendesk: FakeZendesk,
    policy: TicketPolicy,
    matrix: ApprovalMatrix,
    tmp_path: Path,
) -> None:
    """A balance question waits for review; the customer then writes that they dispute an
    invoice. The reviewer must be shown a draft for what the customer now says (and the
    dispute opened), not send the balance answer to a message that is no longer the news."""
    zendesk.add_ticket(
        121, subject="Our account", body="What is our balance?", requester=ACME_CONTACT
    )
    async with billing_queue(time_skipping_env, book, zendesk, policy, matrix, tmp_path) as queue:
        await queue.webhook(_body(121))
        await queue.state(121, "awaiting_review", category="payment_status")

        zendesk.requester_writes(
            121, "Actually we dispute INV-000001: we were charged twice for it."
        )
        status, _ = await queue.webhook(_body(121))
        assert status in (200, 202)
        state = await queue.state(121, "awaiting_review", category="dispute")
        assert state.dispute_id == "ZD-121"

        await queue.decide(121, ReplyDecision(action="send", by=ANALYST))
        assert (await queue.handle(121).result()).outcome == "public_reply"
    (reply,) = zendesk.replies(121)
    assert "billing dispute ZD-121" in reply["body"]
    with book() as session:
        assert session.get(Dispute, "ZD-121") is not None


def test_a_reply_whose_first_put_outlives_the_client_timeout_is_posted_once(
    book: sessionmaker[Session],
    zendesk: FakeZendesk,
    policy: TicketPolicy,
    matrix: ApprovalMatrix,
) -> None:
    """Zendesk takes 2 s over the PUT that adds the reply; the client gives up after 0.3 s,
    reads the ticket (no reply yet: the PUT is still on its way) and tries again. Both PUTs
    reach Zendesk; the reply must land once, and be audited once."""
    zendesk.add_ticket(122, subject="Balance", body="What is our balance?", requester=ACME_CONTACT)
    zendesk.fail_next(Failure("PUT", 200, delay=2.0))
    activities = ZendeskActivities(
        book,
        lambda: zendesk_client(zendesk_settings(zendesk), timeout=0.3),
        policy,
        matrix,
        LogReviewNotifier(),
    )
    posted = activities.post_reply(
        PostReply(
            ticket_id=122,
            workflow_id="ticket-122",
            customer_id="CUS-0001",
            category="payment_status",
            body="Your balance is $1,734.50.",
            public=True,
            draft_source="template",
            flagged=False,
            decided_by=ANALYST,
            now=NOW,
        )
    )
    time.sleep(2.5)  # the slow PUT reaches the ticket
    assert [r["body"] for r in zendesk.replies(122)] == ["Your balance is $1,734.50."]
    assert posted.posted
    puts = [r.status for r in zendesk.requests if r.method == "PUT"]
    assert sorted(puts) == [200, 409], puts


async def test_send_and_internal_note_clicked_at_the_same_instant_take_one_decision(
    time_skipping_env: WorkflowEnvironment,
    book: sessionmaker[Session],
    zendesk: FakeZendesk,
    policy: TicketPolicy,
    matrix: ApprovalMatrix,
    tmp_path: Path,
) -> None:
    """Ana clicks Send while Ben clicks Send as internal note: both updates reach the
    workflow together. One is the decision; the other is refused, never told "queued" and
    then silently replaced (or replacing the first). Several tickets, as a race can be lost
    only some of the time."""
    tickets = range(130, 136)
    for ticket in tickets:
        zendesk.add_ticket(
            ticket, subject="Balance", body="What is our balance?", requester=ACME_CONTACT
        )
    async with billing_queue(time_skipping_env, book, zendesk, policy, matrix, tmp_path) as queue:
        for ticket in tickets:
            await queue.webhook(_body(ticket))
            await queue.state(ticket, "awaiting_review")
            clicks = await asyncio.gather(
                queue.decide(ticket, ReplyDecision(action="send", by=ANALYST)),
                queue.decide(ticket, ReplyDecision(action="internal_note", by="cli:ben")),
                return_exceptions=True,
            )
            accepted = [c for c in clicks if isinstance(c, str)]
            assert len(accepted) == 1, (ticket, clicks)
            refused = [c for c in clicks if isinstance(c, WorkflowUpdateFailedError)]
            assert "already decided by" in str(refused[0].cause)
            outcome = await queue.handle(ticket).result()
            taken = "public reply" if outcome.outcome == "public_reply" else "internal note"
            assert taken in accepted[0], (accepted, outcome)
