"""Prompt injection: hostile customer text is flagged, changes nothing and leaks nothing.

The model behind the scripted server is as gullible as a model can be: it
does whatever the customer's text asks (credits, other customers' figures,
its own system prompt, new bank details). The drafts must still come out
as the template, flagged for a person, with the ledger untouched.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date

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
from tests.drafting.fake_openai import FakeOpenAI, serving
from tests.drafting.hostile_corpus import HOSTILE, ORDINARY, OTHER_CUSTOMER, Hostile, gullible_reply
from tests.ledger.factories import customer, open_invoice


def test_the_corpus_is_big_enough_and_covers_every_aim() -> None:
    assert len(HOSTILE) >= 20
    assert {h.wants for h in HOSTILE} == {"credit", "other_data", "prompt", "bank"}


@pytest.mark.parametrize("text", [h.text for h in HOSTILE], ids=[h.name for h in HOSTILE])
def test_every_hostile_text_is_flagged(text: str) -> None:
    assert hostile.inspect(text)


@pytest.mark.parametrize("text", ORDINARY)
def test_ordinary_billing_questions_are_not_flagged(text: str) -> None:
    assert hostile.inspect(text) == ()


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
    with serving(FakeOpenAI(responder=gullible_reply)) as fake:
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
def test_agullible_reply_model_cannot_act_on_hostile_text(
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
