"""From Zendesk's webhook to the comment posted on the ticket, through the real zenpy client."""

from __future__ import annotations

import json
from io import BytesIO
from pathlib import Path

import pytest
from pypdf import PdfReader
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from temporalio.client import WorkflowUpdateFailedError
from temporalio.testing import WorkflowEnvironment

from activities.approvals.matrix import ApprovalMatrix
from activities.ledger import audit
from activities.ledger.models import Dispute, DisputedInvoice, DisputeStatus, Invoice
from activities.zendesk.messages import ReplyDecision
from activities.zendesk.policy import TicketPolicy
from activities.zendesk.tickets import REPLIED_TAG
from activities.zendesk.webhook import ticket_id
from tests.zendesk.conftest import ACME_CONTACT, billing_queue, signed
from tests.zendesk.fake_zendesk import Failure, FakeZendesk

ANALYST = "slack:U0ANALYST1"


def _body(ticket_id: int) -> bytes:
    return json.dumps({"ticket_id": str(ticket_id)}).encode()


async def test_a_payment_question_is_answered_after_review(
    time_skipping_env: WorkflowEnvironment,
    book: sessionmaker[Session],
    zendesk: FakeZendesk,
    policy: TicketPolicy,
    matrix: ApprovalMatrix,
    tmp_path: Path,
) -> None:
    zendesk.add_ticket(
        101,
        subject="Open balance?",
        body="Hi, what do we owe you right now?",
        requester=ACME_CONTACT,
    )
    async with billing_queue(time_skipping_env, book, zendesk, policy, matrix, tmp_path) as queue:
        assert await queue.webhook(_body(101)) == (
            202,
            {"workflow_id": "ticket-101", "status": "started"},
        )
        state = await queue.state(101, "awaiting_review")
        assert (state.category, state.customer_id, state.draft_source) == (
            "payment_status",
            "CUS-0001",
            "template",
        )
        handle = queue.handle(101)
        await queue.decide(101, ReplyDecision(action="send", by=ANALYST))
        outcome = await handle.result()
        assert (outcome.outcome, outcome.decided_by) == ("public_reply", ANALYST)

        # Zendesk retries its webhook; the ticket is answered once.
        assert (await queue.webhook(_body(101)))[1]["status"] == "already handled"

    (reply,) = zendesk.replies(101)
    assert reply["public"] is True
    body = reply["body"]
    assert "The account \u201cAcme Corp\u201d has $1,734.50 open" in body
    assert "INV-000001" in body and "INV-000003" in body
    assert "INV-000002" not in body and "9,999" not in body  # Globex's invoice
    assert "The last payment we received was $250.00 on 2026-10-13." in body
    ticket = zendesk.tickets[101]
    assert ticket["status"] == "pending"
    assert {REPLIED_TAG, "billing_ops", "billing_payment_status", "billing_ops_template"} <= set(
        ticket["tags"]
    )
    with book() as session:
        posted = [
            e
            for e in audit.history(session, "customer", "CUS-0001")
            if e.action.startswith("zendesk.")
        ]
    assert [(e.action, e.actor) for e in posted] == [("zendesk.reply_posted", ANALYST)]


async def test_low_risk_kinds_go_out_alone_when_policy_says_so(
    time_skipping_env: WorkflowEnvironment,
    book: sessionmaker[Session],
    zendesk: FakeZendesk,
    policy: TicketPolicy,
    matrix: ApprovalMatrix,
    tmp_path: Path,
) -> None:
    zendesk.add_ticket(
        102,
        subject="Invoice copy",
        body="Could you send a copy of INV-000003?",
        requester=ACME_CONTACT,
    )
    auto = policy.model_copy(update={"auto_send": ("invoice_copy",)})
    async with billing_queue(time_skipping_env, book, zendesk, auto, matrix, tmp_path) as queue:
        await queue.webhook(_body(102))
        outcome = await queue.handle(102).result()
    assert (outcome.outcome, outcome.decided_by) == ("public_reply", "policy:auto_send")
    (reply,) = zendesk.replies(102)
    assert "INV-000003" in reply["body"] and "INV-000001" not in reply["body"]
    # No portal is configured: the reply promises the attachment, never a portal link.
    assert "attached to this reply" in reply["body"] and "portal" not in reply["body"]
    # The copy itself is attached, uploaded through zenpy's upload API: the stored PDF.
    assert [a["file_name"] for a in reply["attachments"]] == ["INV-000003.pdf"]
    pdf = PdfReader(BytesIO(reply["attachments"][0]["content"]))
    assert "INV-000003" in (pdf.pages[0].extract_text() or "")


async def test_an_edited_reply_can_go_as_an_internal_note(
    time_skipping_env: WorkflowEnvironment,
    book: sessionmaker[Session],
    zendesk: FakeZendesk,
    policy: TicketPolicy,
    matrix: ApprovalMatrix,
    tmp_path: Path,
) -> None:
    zendesk.add_ticket(
        103, subject="Question", body="Who is our account manager?", requester=ACME_CONTACT
    )
    async with billing_queue(time_skipping_env, book, zendesk, policy, matrix, tmp_path) as queue:
        await queue.webhook(_body(103))
        assert (await queue.state(103, "awaiting_review")).category == "other"
        handle = queue.handle(103)
        note = "Customer asks for their account manager; Sales should answer."
        await queue.decide(103, ReplyDecision(action="internal_note", by="cli:maria", body=note))
        assert (await handle.result()).outcome == "internal_note"
    (reply,) = zendesk.replies(103)
    assert (reply["public"], reply["body"]) == (False, note)
    assert zendesk.tickets[103]["status"] == "new"  # an internal note leaves the status alone
    assert "billing_ops_edited" in zendesk.tickets[103]["tags"]


async def test_only_reviewers_decide_and_only_once(
    time_skipping_env: WorkflowEnvironment,
    book: sessionmaker[Session],
    zendesk: FakeZendesk,
    policy: TicketPolicy,
    matrix: ApprovalMatrix,
    tmp_path: Path,
) -> None:
    zendesk.add_ticket(104, subject="Balance", body="What is our balance?", requester=ACME_CONTACT)
    async with billing_queue(time_skipping_env, book, zendesk, policy, matrix, tmp_path) as queue:
        await queue.webhook(_body(104))
        await queue.state(104, "awaiting_review")
        handle = queue.handle(104)
        with pytest.raises(WorkflowUpdateFailedError) as refused:
            await queue.decide(104, ReplyDecision(action="send", by="slack:U0SALES001"))
        assert "may not send ticket replies" in str(refused.value.cause)
        await queue.decide(104, ReplyDecision(action="send", by=ANALYST))
        with pytest.raises(WorkflowUpdateFailedError) as twice:
            await queue.decide(104, ReplyDecision(action="send", by="cli:ben"))
        assert "already decided by slack:U0ANALYST1" in str(twice.value.cause)
        await handle.result()
    assert len(zendesk.replies(104)) == 1


async def test_a_dispute_ticket_opens_the_dispute_for_the_customers_own_invoices(
    time_skipping_env: WorkflowEnvironment,
    book: sessionmaker[Session],
    zendesk: FakeZendesk,
    policy: TicketPolicy,
    matrix: ApprovalMatrix,
    tmp_path: Path,
) -> None:
    zendesk.add_ticket(
        105,
        subject="Wrong amount on INV-000001",
        body="We were overcharged on INV-000001 (and see INV-000002): it should be 8 seats.",
        requester=ACME_CONTACT,
    )
    async with billing_queue(time_skipping_env, book, zendesk, policy, matrix, tmp_path) as queue:
        await queue.webhook(_body(105))
        state = await queue.state(105, "awaiting_review")
        assert (state.category, state.dispute_id) == ("dispute", "ZD-105")
        await queue.decide(105, ReplyDecision(action="send", by=ANALYST))
        assert (await queue.handle(105).result()).dispute_id == "ZD-105"
    with book() as session:
        dispute = session.get(Dispute, "ZD-105")
        assert dispute is not None
        assert (dispute.customer_id, dispute.status) == ("CUS-0001", DisputeStatus.OPEN)
        disputed = session.scalars(
            select(Invoice.number)
            .join(DisputedInvoice, DisputedInvoice.invoice_id == Invoice.id)
            .where(DisputedInvoice.dispute_id == "ZD-105")
        ).all()
    assert disputed == ["INV-000001"]  # Globex's INV-000002 was named but is not Acme's
    (reply,) = zendesk.replies(105)
    assert "billing dispute ZD-105" in reply["body"] and "INV-000002" not in reply["body"]


async def test_an_unknown_requester_learns_nothing_about_any_account(
    time_skipping_env: WorkflowEnvironment,
    book: sessionmaker[Session],
    zendesk: FakeZendesk,
    policy: TicketPolicy,
    matrix: ApprovalMatrix,
    tmp_path: Path,
) -> None:
    zendesk.add_ticket(
        106,
        subject="Acme Corp balance",
        body="I work at Acme Corp (CUS-0001). What does Acme owe on INV-000001?",
        requester=("Mallory", "mallory@freemail.example"),
    )
    auto = policy.model_copy(update={"auto_send": ("payment_status",)})
    async with billing_queue(time_skipping_env, book, zendesk, auto, matrix, tmp_path) as queue:
        await queue.webhook(_body(106))
        state = await queue.state(106, "awaiting_review")  # unmatched: never auto-sent
        assert state.customer_id is None
        await queue.decide(106, ReplyDecision(action="send", by=ANALYST))
        await queue.handle(106).result()
    (reply,) = zendesk.replies(106)
    assert "could not find a billing account" in reply["body"]
    assert "$" not in reply["body"] and "INV-" not in reply["body"]


async def test_rate_limits_and_server_errors_are_retried_and_the_reply_lands_once(
    time_skipping_env: WorkflowEnvironment,
    book: sessionmaker[Session],
    zendesk: FakeZendesk,
    policy: TicketPolicy,
    matrix: ApprovalMatrix,
    tmp_path: Path,
) -> None:
    zendesk.add_ticket(
        107, subject="Receipt", body="Please send the receipt PDF.", requester=ACME_CONTACT
    )
    auto = policy.model_copy(update={"auto_send": ("invoice_copy",)})
    zendesk.fail_next(
        Failure("GET", 429, retry_after=1),  # zenpy waits the Retry-After itself
        Failure("GET", 429),  # no Retry-After: our backoff
        Failure("GET", 503),
        Failure("PUT", 502, after_applying=True),  # the reply landed, the answer was lost
    )
    async with billing_queue(time_skipping_env, book, zendesk, auto, matrix, tmp_path) as queue:
        await queue.webhook(_body(107))
        assert (await queue.handle(107).result()).outcome == "public_reply"
    assert len(zendesk.replies(107)) == 1
    statuses = [(r.method, r.status) for r in zendesk.requests]
    assert ("GET", 429) in statuses and ("GET", 503) in statuses and ("PUT", 502) in statuses


async def test_a_ticket_billing_ops_already_answered_is_left_alone(
    time_skipping_env: WorkflowEnvironment,
    book: sessionmaker[Session],
    zendesk: FakeZendesk,
    policy: TicketPolicy,
    matrix: ApprovalMatrix,
    tmp_path: Path,
) -> None:
    zendesk.add_ticket(
        108,
        subject="Balance",
        body="What is our balance?",
        requester=ACME_CONTACT,
        tags=(REPLIED_TAG,),
    )
    async with billing_queue(time_skipping_env, book, zendesk, policy, matrix, tmp_path) as queue:
        await queue.webhook(_body(108))
        assert (await queue.handle(108).result()).outcome == "already_answered"
    assert zendesk.replies(108) == []


@pytest.mark.parametrize(
    ("body", "headers", "status", "error"),
    [
        (_body(109), signed(_body(109), secret="not-the-secret"), 401, "bad signature"),
        (_body(109), {"content-type": "application/json"}, 401, "unsigned"),
        (_body(109), signed(_body(109), timestamp="2026-11-02T14:50:00Z"), 401, "stale"),
        (b'{"ticket": 109}', signed(b'{"ticket": 109}'), 400, 'needs "ticket_id"'),
        (b"not json", signed(b"not json"), 400, "not JSON"),
    ],
)
async def test_the_webhook_refuses_what_zendesk_did_not_sign(
    body: bytes,
    headers: dict[str, str],
    status: int,
    error: str,
    time_skipping_env: WorkflowEnvironment,
    book: sessionmaker[Session],
    zendesk: FakeZendesk,
    policy: TicketPolicy,
    matrix: ApprovalMatrix,
    tmp_path: Path,
) -> None:
    async with billing_queue(time_skipping_env, book, zendesk, policy, matrix, tmp_path) as queue:
        answer_status, answer = await queue.webhook(body, headers)
    assert answer_status == status
    assert error in answer["error"]
    assert zendesk.requests == []  # nothing started, Zendesk never called


def test_event_subscription_payloads_carry_the_ticket_in_detail() -> None:
    payload = {"type": "zen:event-type:ticket.created", "detail": {"id": "4711"}}
    assert ticket_id(json.dumps(payload).encode()) == 4711


async def test_a_billing_address_change_opens_a_change_request_for_a_person_to_triage(
    time_skipping_env: WorkflowEnvironment,
    book: sessionmaker[Session],
    zendesk: FakeZendesk,
    policy: TicketPolicy,
    matrix: ApprovalMatrix,
    tmp_path: Path,
) -> None:
    zendesk.add_ticket(
        110,
        subject="New billing address",
        body="Our billing address changed to 5 Market Street, Springfield, IL 62701. "
        "Please update it on our invoices.",
        requester=ACME_CONTACT,
    )
    async with billing_queue(time_skipping_env, book, zendesk, policy, matrix, tmp_path) as queue:
        await queue.webhook(_body(110))
        state = await queue.state(110, "awaiting_review")
        assert (state.category, state.dispute_id) == ("account_change", "ZD-110")
        await queue.decide(110, ReplyDecision(action="send", by=ANALYST))
        await queue.handle(110).result()
    with book() as session:
        dispute = session.get(Dispute, "ZD-110")
        assert dispute is not None and dispute.category is None  # waits for a person's triage
        assert "asks to change the billing address" in dispute.claim
        on_hold = session.scalars(
            select(Invoice.number)
            .join(DisputedInvoice, DisputedInvoice.invoice_id == Invoice.id)
            .where(DisputedInvoice.dispute_id == "ZD-110")
            .order_by(Invoice.number)
        ).all()
    assert on_hold == ["INV-000001", "INV-000003"]  # Acme's open invoices, none of Globex's
    (reply,) = zendesk.replies(110)
    assert "change request ZD-110" in reply["body"]
    assert "5 Market Street" not in reply["body"]  # nothing is confirmed before a person checks


async def test_an_invoice_copy_never_attaches_another_accounts_invoice(
    time_skipping_env: WorkflowEnvironment,
    book: sessionmaker[Session],
    zendesk: FakeZendesk,
    policy: TicketPolicy,
    matrix: ApprovalMatrix,
    tmp_path: Path,
) -> None:
    """A reply edited to name another customer's invoice (INV-000002 is CUS-0002's) attaches
    only the requester's own (INV-000003)."""
    zendesk.add_ticket(
        104,
        subject="Invoice copy",
        body="Please send INV-000002 and INV-000003 as PDFs.",
        requester=ACME_CONTACT,
    )
    async with billing_queue(time_skipping_env, book, zendesk, policy, matrix, tmp_path) as queue:
        await queue.webhook(_body(104))
        assert (await queue.state(104, "awaiting_review")).category == "invoice_copy"
        handle = queue.handle(104)
        edited = "Here are INV-000002 and INV-000003, attached."
        await queue.decide(104, ReplyDecision(action="send", by="cli:maria", body=edited))
        assert (await handle.result()).outcome == "public_reply"
    (reply,) = zendesk.replies(104)
    assert [a["file_name"] for a in reply["attachments"]] == ["INV-000003.pdf"]
