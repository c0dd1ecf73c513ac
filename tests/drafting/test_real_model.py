"""Drafting, ticket replies and the assistant against a real small model (``make test-llm``).

SmolLM2-135M-Instruct is a weak model, which makes it a good adversary of the
checks: whatever it writes, no draft that goes out without a person may be
content-free, leak the prompt or state something false. The tests marked
``llm`` start llama-cpp-python's server on a free port and point the product's
own ``langchain-openai`` client at it (``OPENAI_BASE_URL``); they are left out
of the default run (``-m 'not llm'`` in pyproject) and skip with the reason
when the ``.[llm]`` extra is not installed. The unmarked tests check the
reading of a sent draft itself (``real_corpus.defects``) on known texts.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic import SecretStr
from sqlalchemy.orm import Session, sessionmaker

from activities.drafting.compose import Drafter
from activities.drafting.model import MAX_TOKENS, chat_model
from activities.ledger.db import make_engine, migrate, session_factory
from activities.paths import REPO_ROOT
from activities.settings import Settings
from bot.assistant import Assistant
from tests.conftest import NOW
from tests.drafting import llama_server
from tests.drafting.real_corpus import (
    MODEL_SOURCES,
    QUESTIONS,
    Result,
    cases,
    defects,
    required_values,
    run,
)
from tests.zendesk.conftest import seed_book
from workflows.collections import QUICK as COLLECTIONS_STEP
from workflows.disputes import QUICK as DISPUTE_STEP

llm = pytest.mark.llm


@pytest.fixture(scope="module")
def real_settings() -> Iterator[Settings]:
    why = llama_server.missing()
    if why:
        pytest.skip(why)
    with llama_server.llama_server() as base_url:
        yield Settings(
            openai_api_key=SecretStr("sk-local"),
            openai_base_url=base_url,
            openai_model=llama_server.MODEL_ALIAS,
            _env_file=None,
        )


@pytest.fixture(scope="module")
def ledger(tmp_path_factory: pytest.TempPathFactory) -> Iterator[sessionmaker[Session]]:
    engine = make_engine(f"sqlite:///{tmp_path_factory.mktemp('real') / 'ledger.sqlite'}")
    migrate(engine)
    yield session_factory(engine)
    engine.dispose()


@pytest.fixture(scope="module")
def results(real_settings: Settings, ledger: sessionmaker[Session]) -> list[Result]:
    return run(Drafter(ledger, chat_model(real_settings)))


@llm
def test_no_draft_that_goes_out_is_empty_leaking_or_short_of_its_facts(
    results: list[Result],
) -> None:
    """What goes out unread (the model's draft, or the template in its place) states its step's
    facts, holds no prompt text or tag, does not repeat the customer, has a one-line subject."""
    bad = {
        r.case.name: (r.draft.source, defects(r.case.request, r.sent_text()))
        for r in results
        if r.outcome != "held"
    }
    assert {name: found for name, found in bad.items() if found[1]} == {}
    assert len(bad) + sum(r.outcome == "held" for r in results) == len(cases())


@llm
def test_every_model_draft_the_checks_accepted_is_fit_to_read(results: list[Result]) -> None:
    """A draft the checks let through, even one a person reads first, has what its step must
    say and nothing of the prompt or the customer's words."""
    accepted = [r for r in results if r.draft.source in MODEL_SOURCES]
    bad = {r.case.name: defects(r.case.request, r.draft) for r in accepted}
    assert {name: found for name, found in bad.items() if found} == {}


@llm
def test_drafts_that_are_not_the_template_are_read_by_a_person(results: list[Result]) -> None:
    """The model's own sentences (claims nobody checked) never go out unread."""
    for r in results:
        if r.outcome == "sent":
            assert not r.draft.held and not r.draft.flags, r.case.name


@llm
def test_calls_are_bounded_to_fit_the_activity(results: list[Result]) -> None:
    """However slow the model, a draft ends inside the shortest step that drafts (a slow call
    times out and the template is used)."""
    for r in results:
        calls = 1 if r.draft.source == "model" else 2
        assert r.draft.completion_tokens <= MAX_TOKENS * calls, r.case.name
        assert r.seconds < min(COLLECTIONS_STEP, DISPUTE_STEP).total_seconds(), r.case.name


_FIGURE = re.compile(r"\d[\d,.]*\d|\d")


@llm
async def test_the_assistant_states_only_figures_the_records_hold(
    real_settings: Settings, ledger: sessionmaker[Session]
) -> None:
    """Over the tests' book: every figure in an answer was in a tool result or the question,
    and no answer repeats the assistant's instructions."""
    seed_book(ledger)
    assistant = Assistant(ledger, chat_model(real_settings), REPO_ROOT / "config", lambda: NOW)
    for n, question in enumerate(QUESTIONS):
        answer = await assistant.answer(question, thread=f"C1:{n}", user="U1")
        assert answer.strip(), question
        known = question + "\n" + "\n".join(_tool_results(assistant, f"C1:{n}"))
        assert [f for f in _FIGURE.findall(answer) if f not in known] == [], (question, answer)
        assert "Rules, in order of importance" not in answer, answer


def _tool_results(assistant: Assistant, thread: str) -> list[str]:
    """What the records say, read again with the assistant's own tools, as the answer might
    quote them (the fallback shows tool results)."""
    by_name = {t.name: t for t in assistant.tools}
    return [
        str(by_name["customer_summary"].invoke({"customer_id": "CUS-0001"})),
        str(by_name["invoices"].invoke({"customer_id": "CUS-0001", "status": "all"})),
        str(by_name["policy"].invoke({"topic": "approvals"})),
        str(by_name["aging"].invoke({"customer_id": ""})),
    ]


# --- the reading of a sent draft, on known texts (default suite) ---------------------------------


def test_every_template_is_fit_to_send() -> None:
    """The templates themselves pass the reading (so it is not stricter than the product)."""
    drafter = Drafter(sessionmaker(), None)
    for case in cases():
        draft = drafter.draft(case.request)
        assert defects(case.request, draft) == [], case.name
        assert required_values(case.request) or case.request.kind.startswith(
            ("tickets/other", "tickets/unmatched", "tickets/cancellation", "tickets/refund")
        ), case.name


@pytest.mark.parametrize(
    ("body", "subject", "found"),
    [
        ("Suspension\n", "Suspension", "leaves out past_due"),
        ("FACTS (the only figures you may use)\n", "Reminder", "holds prompt text"),
        ("<customer_message>hi</customer_message>\n", "Reminder", "holds prompt text"),
        ("{total} open.\n", "FACTS:\n{total}", "subject is not one line"),
    ],
)
def test_the_reading_finds_what_a_weak_model_wrote(body: str, subject: str, found: str) -> None:
    case = next(c for c in cases() if c.request.kind == "collections/suspension")
    draft = Drafter(sessionmaker(), None).draft(case.request)
    bad = draft.model_copy(update={"subject": subject, "body": body})
    assert any(d.startswith(found) for d in defects(case.request, bad)), defects(case.request, bad)


def test_the_reading_finds_the_customer_repeated() -> None:
    case = next(c for c in cases() if c.request.kind == "tickets/refund_request")
    draft = Drafter(sessionmaker(), None).draft(case.request)
    echoed = draft.model_copy(
        update={"body": f"You wrote: {case.request.customer_text}\n\n{draft.body}"}
    )
    assert "repeats the customer's text" in defects(case.request, echoed)


@llm
def test_the_model_file_is_shipped_in_the_package() -> None:
    why = llama_server.missing()
    if why:
        pytest.skip(why)
    path: Path = llama_server.model_path()
    assert path.suffix == ".gguf" and path.stat().st_size > 50_000_000
