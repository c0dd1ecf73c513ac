"""The drafting flow with LangChain's fake chat models: placeholders, retry, fallback, audit."""

from __future__ import annotations

from langchain_core.messages import HumanMessage
from pydantic import SecretStr
from sqlalchemy.orm import Session, sessionmaker

from activities.drafting.compose import Drafter
from activities.drafting.model import DRAFT_BUDGET, MAX_TOKENS, chat_model
from activities.drafting.review import DraftReview
from activities.drafting.templates import render_marked, render_message, requirements
from activities.ledger import audit
from activities.settings import Settings
from tests.drafting.conftest import (
    GOOD_BODY,
    GOOD_BODY_FILLED,
    WRONG_AMOUNT_BODY,
    draft_args,
    payment_status_request,
    scripted,
    tool_message,
)
from workflows.bill_run import DELIVERY_HEARTBEAT
from workflows.collections import QUICK as COLLECTIONS_STEP
from workflows.disputes import QUICK as DISPUTE_STEP


def test_without_a_model_the_draft_is_the_rendered_template(
    sqlite_sessions: sessionmaker[Session],
) -> None:
    request = payment_status_request()
    draft = Drafter(sqlite_sessions).draft(request)
    template = render_message(request.kind, request.values)
    assert (draft.subject, draft.body) == (template.subject, template.body)
    assert draft.source == "template"
    assert draft.prompt_tokens == draft.completion_tokens == 0
    assert not draft.needs_human


def test_placeholders_are_filled_from_the_facts_and_own_words_are_held(
    sqlite_sessions: sessionmaker[Session],
) -> None:
    model = scripted(tool_message(draft_args()))
    draft = Drafter(sqlite_sessions, model).draft(payment_status_request())
    assert draft.source == "model"
    assert draft.body == GOOD_BODY_FILLED
    assert (draft.prompt_tokens, draft.completion_tokens) == (100, 50)
    assert draft.problems == ()
    assert draft.flags == ()
    # Its sentences are the model's own: nobody checked them against the ledger.
    assert draft.needs_human
    assert any("{last_payment_amount}" in reason for reason in draft.held)


def test_a_draft_of_template_sentences_has_earned_going_out_alone(
    sqlite_sessions: sessionmaker[Session],
) -> None:
    request = payment_status_request()
    drafter = Drafter(sqlite_sessions)
    review = DraftReview(
        request.facts,
        render_marked(request.kind, request.values),
        requirements(request.kind),
        untrusted=[],
        prompts=[],
        allowed_links=drafter.allowed_links,
    )
    reference = review.model_reference()
    drafter.model = scripted(
        tool_message(draft_args(reference.body, reference.subject), tokens=(10, 5))
    )
    draft = drafter.draft(request)
    assert draft.source == "model"
    assert draft.body == render_message(request.kind, request.values).body
    assert draft.held == ()
    assert not draft.needs_human


def test_a_typed_figure_is_retried_once_with_the_problem_named(
    sqlite_sessions: sessionmaker[Session],
) -> None:
    model = scripted(tool_message(draft_args(WRONG_AMOUNT_BODY)), tool_message(draft_args()))
    draft = Drafter(sqlite_sessions, model).draft(payment_status_request())
    assert draft.source == "model_retry"
    assert draft.body == GOOD_BODY_FILLED
    typed, missing, grounding = draft.problems
    assert "$1,743.50" in typed and "placeholders" in typed
    assert missing == "the draft leaves out what this message must state: open_total"
    assert grounding.startswith('amount "$1,743.50" is not one of the facts')
    assert (draft.prompt_tokens, draft.completion_tokens) == (200, 100)


def test_two_bad_drafts_fall_back_to_the_template_and_are_audited(
    sqlite_sessions: sessionmaker[Session],
) -> None:
    unknown = GOOD_BODY.replace("{invoice_2.number}", "{invoice_9.number}")
    model = scripted(tool_message(draft_args(WRONG_AMOUNT_BODY)), tool_message(draft_args(unknown)))
    request = payment_status_request()
    draft = Drafter(sqlite_sessions, model).draft(request)
    template = render_message(request.kind, request.values)
    assert draft.source == "template_fallback"
    assert (draft.subject, draft.body) == (template.subject, template.body)
    assert any("{invoice_9.number}" in p for p in draft.problems)
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
        "the model returned no usable draft (its output was not a DraftText)",
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


def test_the_prompt_lists_placeholders_and_the_reference_in_placeholders(
    sqlite_sessions: sessionmaker[Session],
) -> None:
    request = payment_status_request()
    drafter = Drafter(sqlite_sessions)
    review = DraftReview(
        request.facts,
        render_marked(request.kind, request.values),
        requirements(request.kind),
        untrusted=[],
        prompts=[],
        allowed_links=drafter.allowed_links,
    )
    messages = drafter._messages(request, review, "system")
    assert len(messages) == 2  # the system prompt, then the placeholders and the reference
    assert isinstance(messages[1], HumanMessage)
    prompt = str(messages[1].content)
    assert "- {open_total}: $1,734.50" in prompt
    assert "- {invoice_1.number}: INV-000123" in prompt
    assert "- {last_payment_date}: 2026-10-15" in prompt
    assert "has {open_total} open:" in prompt
    assert "$1,734.50 open" not in prompt  # the reference is shown in placeholders
    assert "<customer_message>" not in prompt  # no customer text given


def test_model_calls_are_bounded_to_fit_the_send_steps() -> None:
    model = chat_model(Settings(openai_api_key=SecretStr("sk-test")))
    assert model is not None
    assert model.max_tokens == MAX_TOKENS
    assert min(COLLECTIONS_STEP, DISPUTE_STEP) > DRAFT_BUDGET
    # The bill run's delivery drafts one invoice email between two heartbeats.
    assert DELIVERY_HEARTBEAT > DRAFT_BUDGET
