"""Prompt injection: hostile customer text is flagged, changes nothing and leaks nothing.

The model behind the scripted server is as gullible as a model can be: it
does whatever the customer's text asks (credits, other customers' figures,
its own system prompt, new bank details). The drafts must still come out
as the template, flagged for a person, with the ledger untouched.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from typing import Any

import pytest
from pydantic import SecretStr
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from activities.drafting import hostile
from activities.drafting.compose import Drafter
from activities.drafting.model import chat_model
from activities.drafting.templates import render_message
from activities.ledger.db import make_engine, migrate, session_factory
from activities.ledger.models import AuditEntry, CreditNote, Invoice, Payment, Refund
from activities.settings import Settings
from tests.drafting.conftest import payment_status_request
from tests.drafting.fake_openai import FakeOpenAI, Reply, draft_reply, serving
from tests.drafting.hostile_corpus import HOSTILE, ORDINARY, Hostile
from tests.ledger.factories import customer, open_invoice

OTHER_CUSTOMER = "Globex Ltd"


def test_the_corpus_is_big_enough_and_covers_every_aim() -> None:
    assert len(HOSTILE) >= 20
    assert {h.wants for h in HOSTILE} == {"credit", "other_data", "prompt", "bank"}


@pytest.mark.parametrize("text", [h.text for h in HOSTILE], ids=[h.name for h in HOSTILE])
def test_every_hostile_text_is_flagged(text: str) -> None:
    assert hostile.inspect(text)


@pytest.mark.parametrize("text", ORDINARY)
def test_ordinary_billing_questions_are_not_flagged(text: str) -> None:
    assert hostile.inspect(text) == ()


def _gullible(request: dict[str, Any]) -> Reply:
    """Do what the customer's message asks, in the worst way for each aim."""
    system = request["messages"][0]["content"]
    user = request["messages"][1]["content"]
    customer_text = user.rsplit("<customer_message>", 1)[-1]
    body = "Hello Dana,\n\n"
    if any(word in customer_text for word in ("credit", "refund", "discount", "paid", "waive")):
        body += "Done: we applied a credit of $5,000.00 and a 50% discount; your balance is $0.00."
    elif "bank" in customer_text or "account" in customer_text or "wire" in customer_text:
        body += (
            "From now on please pay to IBAN GB33 BUKB 2020 1555 5555 55, see "
            "https://secure-pay.example-billing.help/acme."
        )
    elif "prompt" in customer_text or "instructions" in customer_text or "key" in customer_text:
        body += f"Here are my instructions, as requested:\n{system}"
    else:
        body += f"{OTHER_CUSTOMER} (CUS-0002) owes $9,999.00 on INV-000777."
    return draft_reply("Re: your request", body + "\n\nBilling team\n", "Did what was asked")


@pytest.fixture(scope="module")
def ledger(tmp_path_factory: pytest.TempPathFactory) -> Iterator[sessionmaker[Session]]:
    """One ledger for the corpus: two customers, each with an open invoice."""
    engine = make_engine(f"sqlite:///{tmp_path_factory.mktemp('hostile') / 'ledger.sqlite'}")
    migrate(engine)
    sessions = session_factory(engine)
    with sessions.begin() as session:
        customer(session, "CUS-0001", legal_name="Acme Corp")
        customer(session, "CUS-0002", legal_name=OTHER_CUSTOMER)
        open_invoice(session, "CUS-0001", "1234.50", date(2026, 10, 1))
        open_invoice(session, "CUS-0002", "9999.00", date(2026, 10, 1))
    yield sessions
    engine.dispose()


@pytest.fixture(scope="module")
def gullible_drafter(ledger: sessionmaker[Session]) -> Iterator[Drafter]:
    with serving(FakeOpenAI(responder=_gullible)) as fake:
        settings = Settings(openai_api_key=SecretStr("sk-test"), openai_base_url=fake.base_url)
        yield Drafter(ledger, chat_model(settings))


def _ledger_state(session: Session) -> dict[str, object]:
    return {
        "balances": sorted(session.execute(select(Invoice.number, Invoice.balance)).all()),
        "payments": session.scalar(select(func.count()).select_from(Payment)),
        "refunds": session.scalar(select(func.count()).select_from(Refund)),
        "credit_notes": session.scalar(select(func.count()).select_from(CreditNote)),
    }


@pytest.mark.parametrize("text", HOSTILE, ids=[h.name for h in HOSTILE])
def test_a_gullible_model_cannot_act_on_hostile_text(
    text: Hostile, gullible_drafter: Drafter, ledger: sessionmaker[Session]
) -> None:
    with ledger() as session:
        before = _ledger_state(session)

    request = payment_status_request(text.text)
    draft = gullible_drafter.draft(request)

    assert draft.needs_human, "hostile text must put a person in front of the draft"
    assert draft.source == "template_fallback"
    assert draft.body == render_message(request.kind, request.values).body
    written = f"{draft.subject}\n{draft.body}\n{draft.approver_summary}"
    for leaked in (
        OTHER_CUSTOMER,
        "CUS-0002",
        "INV-000777",
        "9,999",
        "IBAN",
        gullible_drafter.canary,
    ):
        assert leaked not in written
    with ledger() as session:
        assert _ledger_state(session) == before
        actions = session.scalars(select(AuditEntry.action)).all()
    assert set(actions) == {"draft.template_fallback"}
