"""Our multilingual hostile corpus against the drafting and dispute-email paths, with a model
that obeys every text (``obeying_reply``): through the real ``langchain-openai`` client and
the scripted OpenAI server, the real outbox and the ledger.

What must hold for every text: it is flagged (a person reads before anything is sent);
nothing it says reaches a customer unattended (what is sent is the team's template); no
figure, id or link from it appears in a drafted message outside the quoted block that shows
the customer their own words; and the ledger does not change. The ticket path runs the same
corpus through the whole ticket workflow in ``tests/zendesk/test_hostile_tickets.py``.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from pydantic import SecretStr
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session, sessionmaker

from activities.disputes.activities import DisputeActivities, EmailCustomer
from activities.drafting import hostile
from activities.drafting.compose import Drafter
from activities.drafting.model import chat_model
from activities.drafting.templates import render_message
from activities.drafting.untrusted import INVISIBLE
from activities.ledger.models import CreditNote, Customer, Invoice, Payment, Refund
from activities.outbox import FileTransport, Outbox
from activities.settings import Settings
from tests.disputes.harness import open_account
from tests.drafting.conftest import payment_status_request
from tests.drafting.fake_openai import FakeOpenAI, serving
from tests.drafting.multilingual_corpus import (
    CORPUS,
    ORDINARY,
    Text,
    obeying_reply,
    outside_figures,
)
from tests.workflows.harness import sent_emails

NOW = datetime(2026, 11, 17, 15, 0, tzinfo=UTC)


def test_the_corpus_covers_every_place_and_language() -> None:
    assert len(CORPUS) >= 40
    assert {t.where for t in CORPUS} == {
        "ticket",
        "dispute_claim",
        "email_reply",
        "customer_name",
        "analyst_note",
    }
    assert {t.language for t in CORPUS} == {"en", "de", "fr", "es"}
    assert sum(bool(INVISIBLE.search(t.text)) for t in CORPUS) >= 4


@pytest.mark.parametrize("text", CORPUS, ids=[t.name for t in CORPUS])
def test_every_hostile_text_is_flagged(text: Text) -> None:
    assert hostile.inspect(text.text), text.text


@pytest.mark.parametrize("text", ORDINARY)
def test_ordinary_texts_in_four_languages_are_not_flagged(text: str) -> None:
    assert hostile.inspect(text) == ()


@pytest.fixture(scope="module")
def obeying() -> Iterator[FakeOpenAI]:
    with serving(FakeOpenAI(responder=obeying_reply)) as fake:
        yield fake


def _drafter(sessions: sessionmaker[Session], fake: FakeOpenAI) -> Drafter:
    settings = Settings(openai_api_key=SecretStr("sk-test"), openai_base_url=fake.base_url)
    return Drafter(sessions, chat_model(settings))


def _ledger(session: Session) -> dict[str, object]:
    def count(model: type) -> int | None:
        return session.scalar(select(func.count()).select_from(model))

    return {
        "balances": sorted(session.execute(select(Invoice.number, Invoice.balance)).all()),
        "payments": count(Payment),
        "refunds": count(Refund),
        "credit_notes": count(CreditNote),
    }


def _leaked(text: Text, written: str, facts: frozenset[str] = frozenset()) -> set[str]:
    """Figures, ids and links of the outside text that a message states outside quotes and
    that are not ``facts`` (the outside text may name a real invoice, too)."""
    unquoted = written
    for quoted in ("\u201c", "  > "):
        if quoted in unquoted:  # the customer's own words, shown quoted: not a statement
            unquoted = "\n".join(line for line in unquoted.splitlines() if quoted not in line)
    return {f for f in outside_figures(text.text) if f in unquoted and f not in facts}


FROM_CUSTOMERS = [t for t in CORPUS if t.where in ("ticket", "email_reply", "dispute_claim")]


@pytest.mark.parametrize("text", FROM_CUSTOMERS, ids=[t.name for t in FROM_CUSTOMERS])
def test_an_obeying_model_cannot_put_customer_words_in_a_reply(
    text: Text, obeying: FakeOpenAI, sqlite_sessions: sessionmaker[Session]
) -> None:
    request = payment_status_request(text.text)
    drafter = _drafter(sqlite_sessions, obeying)
    draft = drafter.draft(request)
    written = f"{draft.subject}\n{draft.body}\n{draft.approver_summary}"

    assert draft.needs_human, "a person reads it before it goes anywhere"
    assert draft.flags
    assert _leaked(text, written) == set()
    for claim in ("$O.OO", "nine thousand", "void", "evil.example", "secure-pay"):
        assert claim not in written
    unattended, source, _ = drafter.unattended(request)
    assert source == "template_flagged"
    assert unattended.body == render_message(request.kind, request.values).body


NAMES = [t for t in CORPUS if t.where == "customer_name"]


@pytest.mark.parametrize("text", NAMES, ids=[t.name for t in NAMES])
def test_a_hostile_legal_name_is_quoted_flagged_and_never_a_fact(
    text: Text, obeying: FakeOpenAI, sqlite_sessions: sessionmaker[Session]
) -> None:
    request = payment_status_request().model_copy(
        update={"untrusted": {"customer_name": text.text}}
    )
    drafter = _drafter(sqlite_sessions, obeying)
    draft = drafter.draft(request)
    assert draft.flags and draft.needs_human
    written = f"{draft.subject}\n{draft.body}"
    assert _leaked(text, written) == set()
    assert not INVISIBLE.search(written)
    name_lines = [line for line in written.splitlines() if "\u201c" in line]
    assert name_lines, "the name is shown quoted"


CLAIMS = [t for t in CORPUS if t.where in ("dispute_claim", "email_reply", "ticket")]
NOTES = [t for t in CORPUS if t.where == "analyst_note"]


@pytest.fixture
def disputes(
    sqlite_sessions: sessionmaker[Session], tmp_path: Path, obeying: FakeOpenAI
) -> DisputeActivities:
    outbox = Outbox(sqlite_sessions, FileTransport(tmp_path / "outbox"), "billing@example.com")
    return DisputeActivities(sqlite_sessions, outbox, _drafter(sqlite_sessions, obeying))


def _email(account_id: str, invoice: str, template: str, claim: str, reason: str) -> EmailCustomer:
    return EmailCustomer(
        workflow_id=f"dispute-ZD-{template}",
        dispute_id="ZD-77",
        customer_id=account_id,
        template=template,
        invoices=[invoice],
        claim=claim,
        reason=reason,
        at=NOW,
    )


@pytest.mark.parametrize(
    "text", CLAIMS + NOTES + NAMES, ids=[t.name for t in CLAIMS + NOTES + NAMES]
)
def test_dispute_emails_from_hostile_text_send_only_the_template(
    text: Text, disputes: DisputeActivities, sqlite_sessions: sessionmaker[Session]
) -> None:
    """The "received" email a ticket's dispute sends, and the "rejected" email carrying an
    analyst's note: the obeying model's words never go out, nor any figure of the text."""
    account = open_account(sqlite_sessions, NOW)
    if text.where == "customer_name":
        with sqlite_sessions.begin() as session:
            session.execute(
                update(Customer)
                .where(Customer.id == account.customer_id)
                .values(legal_name=text.text)
            )
    with sqlite_sessions() as session:
        before = _ledger(session)
    claim = text.text if text.where != "analyst_note" else "We only had 8 seats."
    note = text.text if text.where == "analyst_note" else "Checked: the seats are right."
    for template in ("received", "rejected"):
        result = disputes.email_customer(
            _email(account.customer_id, account.invoice, template, claim, note)
        )
        assert result.sent and result.draft == "template_flagged", (template, result)
    received, rejected = sent_emails(sqlite_sessions, account.customer_id)
    for sent in (received, rejected):
        written = f"{sent.subject}\n{sent.body}"
        assert _leaked(text, written, frozenset({account.invoice})) == set(), sent.body
        assert "$O.OO" not in written and "nine thousand" not in written
        assert not INVISIBLE.search(written)
    with sqlite_sessions() as session:
        assert _ledger(session) == before
