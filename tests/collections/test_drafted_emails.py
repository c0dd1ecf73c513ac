"""Collections emails go through the drafting step: the template alone without a model, the
model's draft through the real ``langchain-openai`` client (against the scripted OpenAI server
on 127.0.0.1) when one is configured, held to the account's facts, and sent once per key."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from pydantic import SecretStr
from sqlalchemy.orm import Session, sessionmaker

from activities.collections import emails
from activities.collections.activities import (
    CollectionsActivities,
    EmailStep,
    LoadAccount,
    PreparedStep,
)
from activities.collections.cadence import load_cadences
from activities.drafting.compose import Drafter
from activities.drafting.model import chat_model
from activities.ledger import audit
from activities.ledger.payments import PaymentIn, record_payment
from activities.outbox import FileTransport, Outbox
from activities.paths import REPO_ROOT
from activities.settings import Settings
from activities.team_notices import team_notices
from tests.collections.factories import account, invoice
from tests.drafting.fake_openai import (
    FakeOpenAI,
    Reply,
    draft_reply,
    reference_reply,
    serving,
)
from tests.workflows.harness import sent_emails

NOW = datetime(2026, 11, 17, 15, 0, tzinfo=UTC)  # a Tuesday, 10:00 in New York
DUE = NOW.date() - timedelta(days=14)


@dataclass(frozen=True)
class Account:
    customer_id: str
    number: str

    @property
    def step(self) -> EmailStep:
        return EmailStep(
            customer_id=self.customer_id,
            workflow_id=f"collections-{self.customer_id}",
            cycle=DUE.isoformat(),
            step="reminder_2",
            template="reminder",
            now=NOW,
        )

    def body(self, amount: str = "$1,200.00") -> str:
        return (
            f"Hello,\n\nInvoice {self.number} ({amount}) is 14 days past due. "
            f"You can pay it at https://billing.example.com/pay/{self.customer_id}.\n\n"
            "The Accounts Receivable team\n"
        )

    def reply(self, amount: str = "$1,200.00") -> Reply:
        return draft_reply(
            f"{self.number} is 14 days past due", self.body(amount), "A friendly reminder"
        )


@pytest.fixture
def fake_openai() -> Iterator[FakeOpenAI]:
    with serving(FakeOpenAI()) as fake:
        yield fake


@pytest.fixture
def overdue(sqlite_sessions: sessionmaker[Session]) -> Account:
    customer_id = account(sqlite_sessions, NOW)
    return Account(customer_id, invoice(sqlite_sessions, customer_id, "1200.00", DUE))


def collections(
    sessions: sessionmaker[Session], folder: Path, model: FakeOpenAI | None
) -> CollectionsActivities:
    settings = Settings(
        openai_api_key=SecretStr("sk-test") if model else None,
        openai_base_url=model.base_url if model else None,
        openai_model="gpt-test",
        _env_file=None,
    )
    return CollectionsActivities(
        sessions,
        load_cadences(REPO_ROOT / "config" / "cadences.yaml", emails.TEMPLATES),
        Outbox(sessions, FileTransport(folder / "outbox"), "ar@example.com"),
        team_notices(sessions, folder, None),
        Drafter(sessions, chat_model(settings)),
    )


def email_audit(sessions: sessionmaker[Session], customer_id: str) -> list[dict[str, object]]:
    with sessions() as session:
        return [
            e.after or {}
            for e in audit.history(session, "customer", customer_id)
            if e.action == "collections.email_sent"
        ]


def test_without_a_model_the_email_is_the_template(
    sqlite_sessions: sessionmaker[Session], overdue: Account, tmp_path: Path
) -> None:
    activities = collections(sqlite_sessions, tmp_path, None)
    assert activities.send_email(overdue.step).sent

    (sent,) = sent_emails(sqlite_sessions, overdue.customer_id)
    snapshot = activities.load_account(LoadAccount(customer_id=overdue.customer_id, as_of=NOW))
    values = emails.facts(snapshot, activities.book)
    template = emails.render_email("reminder", values, ["ap@example.com"])
    assert (sent.subject, sent.body) == (template.subject, template.body)
    assert [a["draft"] for a in email_audit(sqlite_sessions, overdue.customer_id)] == ["template"]


def test_a_model_draft_of_template_sentences_is_sent_once_without_asking_again(
    sqlite_sessions: sessionmaker[Session],
    overdue: Account,
    tmp_path: Path,
    fake_openai: FakeOpenAI,
) -> None:
    fake_openai.responder = reference_reply
    activities = collections(sqlite_sessions, tmp_path, fake_openai)
    first = activities.send_email(overdue.step)
    again = activities.send_email(overdue.step)

    assert first.sent and not first.already_sent and again.already_sent
    assert len(fake_openai.requests) == 1
    (sent,) = sent_emails(sqlite_sessions, overdue.customer_id)
    snapshot = activities.load_account(LoadAccount(customer_id=overdue.customer_id, as_of=NOW))
    template = emails.render_email("reminder", emails.facts(snapshot, activities.book), [])
    assert (sent.subject, sent.body) == (template.subject, template.body)
    assert [a["draft"] for a in email_audit(sqlite_sessions, overdue.customer_id)] == ["model"]
    assert len(list((tmp_path / "outbox").glob("*.eml"))) == 1


def test_a_model_draft_in_its_own_words_is_replaced_by_the_template(
    sqlite_sessions: sessionmaker[Session],
    overdue: Account,
    tmp_path: Path,
    fake_openai: FakeOpenAI,
) -> None:
    """Filled placeholders, no typed figure, every required fact, but claims in the model's
    own words (it calls the invoice paid): nobody has checked them, so the template goes."""
    body = (
        "Hello,\n\nGood news: {invoice.number} for {invoice.balance} is paid, nothing is owed "
        "and {total_USD} was credited. Pay at {payment_link} if you like, due "
        "{invoice.due_date}.\n\nThe Accounts Receivable team\n"
    )
    fake_openai.queue(draft_reply("All settled", body, "Tells them all is paid"))
    activities = collections(sqlite_sessions, tmp_path, fake_openai)
    assert activities.send_email(overdue.step).sent
    (sent,) = sent_emails(sqlite_sessions, overdue.customer_id)
    assert "paid" not in sent.body.replace("unpaid", "") and "credited" not in sent.body
    assert sent.body.startswith("Hello,\n\nOur records show $1,200.00 past due")
    drafts = [a["draft"] for a in email_audit(sqlite_sessions, overdue.customer_id)]
    assert drafts == ["template_held"]


def test_a_model_that_gets_the_amount_wrong_twice_falls_back_to_the_template(
    sqlite_sessions: sessionmaker[Session],
    overdue: Account,
    tmp_path: Path,
    fake_openai: FakeOpenAI,
) -> None:
    fake_openai.queue(overdue.reply("$1,020.00"), overdue.reply("$12,000.00"))
    activities = collections(sqlite_sessions, tmp_path, fake_openai)
    assert activities.send_email(overdue.step).sent

    (sent,) = sent_emails(sqlite_sessions, overdue.customer_id)
    assert "$1,020.00" not in sent.body and "$12,000.00" not in sent.body
    assert sent.subject.startswith("Payment reminder: $1,200.00 past due")
    assert len(fake_openai.requests) == 2
    assert [a["draft"] for a in email_audit(sqlite_sessions, overdue.customer_id)] == [
        "template_fallback"
    ]
    with sqlite_sessions() as session:
        fallback = [
            e
            for e in audit.history(session, "customer", overdue.customer_id)
            if e.action == "draft.template_fallback"
        ]
        assert len(fallback) == 1


def test_a_draft_prepared_for_approval_is_stored_once_and_sent_as_stored(
    sqlite_sessions: sessionmaker[Session],
    overdue: Account,
    tmp_path: Path,
    fake_openai: FakeOpenAI,
) -> None:
    """The approver's text is drafted once (a retry returns it without asking the model), and
    the approved send is that text: the model is not asked again, even by a new worker."""
    fake_openai.responder = reference_reply
    step = PreparedStep(email=overdue.step, revision=0)
    first = collections(sqlite_sessions, tmp_path, fake_openai).prepare_email(step)
    again = collections(sqlite_sessions, tmp_path, fake_openai).prepare_email(step)
    assert first == again and len(fake_openai.requests) == 1
    assert first.subject is not None and first.preview.startswith("To: ap@example.com\n")

    sent = collections(sqlite_sessions, tmp_path, fake_openai).send_prepared(step)
    assert sent.sent and not sent.stale and len(fake_openai.requests) == 1
    (email,) = sent_emails(sqlite_sessions, overdue.customer_id)
    assert (email.subject, email.body) == (first.subject, first.body)
    assert [a["draft"] for a in email_audit(sqlite_sessions, overdue.customer_id)] == ["model"]


def test_an_approved_draft_whose_figures_changed_is_not_sent(
    sqlite_sessions: sessionmaker[Session], overdue: Account, tmp_path: Path
) -> None:
    activities = collections(sqlite_sessions, tmp_path, None)
    step = PreparedStep(email=overdue.step, revision=0)
    assert "$1,200.00 past due" in activities.prepare_email(step).preview
    with sqlite_sessions.begin() as session:
        record_payment(
            session,
            PaymentIn(
                customer_id=overdue.customer_id,
                processor_id="part",
                amount=Decimal("200.00"),
                currency="USD",
                received_at=NOW,
            ),
            actor="test:payments",
        )
    sent = activities.send_prepared(step)
    assert (sent.sent, sent.stale) == (False, True)
    assert sent_emails(sqlite_sessions, overdue.customer_id) == []
    redrafted = activities.prepare_email(PreparedStep(email=overdue.step, revision=1))
    assert "$1,000.00 past due" in redrafted.preview
