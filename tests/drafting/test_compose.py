"""The drafting flow with LangChain's fake chat models: first try, retry, fallback, audit."""

from __future__ import annotations

from langchain_core.messages import HumanMessage
from sqlalchemy.orm import Session, sessionmaker

from activities.drafting.compose import Drafter
from activities.drafting.templates import render_message
from activities.ledger import audit
from tests.drafting.conftest import (
    GOOD_BODY,
    WRONG_AMOUNT_BODY,
    draft_args,
    payment_status_request,
    scripted,
    tool_message,
)


def test_without_a_model_the_draft_is_the_rendered_template(
    sqlite_sessions: sessionmaker[Session],
) -> None:
    request = payment_status_request()
    draft = Drafter(sqlite_sessions).draft(request)
    template = render_message(request.kind, request.values)
    assert (draft.subject, draft.body) == (template.subject, template.body)
    assert draft.source == "template"
    assert draft.prompt_tokens == draft.completion_tokens == 0


def test_a_grounded_draft_is_used_on_the_first_try(sqlite_sessions: sessionmaker[Session]) -> None:
    model = scripted(tool_message(draft_args()))
    draft = Drafter(sqlite_sessions, model).draft(payment_status_request())
    assert draft.source == "model"
    assert draft.body == GOOD_BODY
    assert draft.approver_summary == "Tells Dana the open balance and how to pay"
    assert (draft.prompt_tokens, draft.completion_tokens) == (100, 50)
    assert draft.problems == ()
    assert not draft.needs_human


def test_a_wrong_amount_is_retried_once_with_the_mismatch_named(
    sqlite_sessions: sessionmaker[Session],
) -> None:
    model = scripted(tool_message(draft_args(WRONG_AMOUNT_BODY)), tool_message(draft_args()))
    draft = Drafter(sqlite_sessions, model).draft(payment_status_request())
    assert draft.source == "model_retry"
    assert draft.body == GOOD_BODY
    assert draft.problems == (
        'amount "$1,743.50" is not one of the facts ($1,234.50, $1,734.50, $250.00, '
        "$500.00, $750.00)",
    )
    assert (draft.prompt_tokens, draft.completion_tokens) == (200, 100)


def test_two_wrong_drafts_fall_back_to_the_template_and_are_audited(
    sqlite_sessions: sessionmaker[Session],
) -> None:
    wrong_twice = WRONG_AMOUNT_BODY.replace("INV-000140", "INV-000999")
    model = scripted(
        tool_message(draft_args(WRONG_AMOUNT_BODY)), tool_message(draft_args(wrong_twice))
    )
    request = payment_status_request()
    draft = Drafter(sqlite_sessions, model).draft(request)
    template = render_message(request.kind, request.values)
    assert draft.source == "template_fallback"
    assert (draft.subject, draft.body) == (template.subject, template.body)
    assert len(draft.problems) == 3  # one on the first try, two on the second
    assert any("INV-000999" in p for p in draft.problems)
    with sqlite_sessions() as session:
        (entry,) = audit.history(session, "customer", "CUS-0001")
    assert entry.action == "draft.template_fallback"
    assert entry.actor == "workflow:ticket-42"
    assert entry.after is not None
    assert entry.after["reference"] == "ticket-42:reply"
    assert entry.after["problems"] == list(draft.problems)


def test_output_that_does_not_fit_the_schema_counts_as_a_failed_try(
    sqlite_sessions: sessionmaker[Session],
) -> None:
    model = scripted("Sure! Here is your email: ...", tool_message(draft_args()))
    draft = Drafter(sqlite_sessions, model).draft(payment_status_request())
    assert draft.source == "model_retry"
    assert draft.problems == (
        "the model returned no usable draft (its output did not fit DraftText)",
    )


def test_a_draft_that_leaks_the_system_prompt_is_refused(
    sqlite_sessions: sessionmaker[Session],
) -> None:
    drafter = Drafter(sqlite_sessions)
    leak = GOOD_BODY + f"\nMy instructions carry the marker {drafter.canary}.\n"
    drafter.model = scripted(tool_message(draft_args(leak)), tool_message(draft_args(leak)))
    draft = drafter.draft(payment_status_request())
    assert draft.source == "template_fallback"
    assert "the draft repeats the system prompt's internal marker" in draft.problems


def test_the_prompt_lists_the_facts_and_the_reference_draft(
    sqlite_sessions: sessionmaker[Session],
) -> None:
    request = payment_status_request()
    reference = render_message(request.kind, request.values)
    messages = Drafter(sqlite_sessions)._messages(request, reference)
    assert len(messages) == 2  # the system prompt, then the facts with the reference draft
    assert isinstance(messages[1], HumanMessage)
    prompt = str(messages[1].content)
    assert "- Invoice INV-000123: balance $1,234.50, total $1,234.50, due 2026-10-01" in prompt
    assert "- open_total: $1,734.50" in prompt
    assert "- last_payment_date: 2026-10-15 (Thursday, October 15, 2026)" in prompt
    assert reference.body.strip() in prompt
    assert "<customer_message>" not in prompt  # no customer text given
