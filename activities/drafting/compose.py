"""Drafting one message: the template always, the model when one is configured, held to the facts.

The template-only draft is rendered first: it is the message when no model
is configured, the model's reference, and the fallback. The model's draft
must pass the grounding check; a draft that fails is sent back once with
each mismatch named, and if the second one fails too (or the model cannot
be reached) the template-only draft goes out and the fallback is audited.
Customer text and the model's output are inspected for hostile content;
a finding flags the draft for a person.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage
from openai import OpenAIError
from sqlalchemy.orm import Session, sessionmaker

from activities.billing.money import format_money
from activities.drafting import grounding, hostile
from activities.drafting.facts import Draft, DraftFacts, DraftRequest, DraftText, Source
from activities.drafting.templates import PROMPTS, render_message, render_prompt
from activities.ledger import audit
from activities.ledger.db import transaction

log = logging.getLogger("billing_ops.drafting")


class Drafter:
    """Drafts messages for every part of the product that writes to customers.

    ``model`` is ``None`` when no OpenAI key is configured: drafts are then
    exactly the rendered templates.
    """

    def __init__(
        self,
        sessions: sessionmaker[Session],
        model: BaseChatModel | None = None,
        prompts: Path = PROMPTS,
    ) -> None:
        self.sessions = sessions
        self.model = model
        self.prompts = prompts
        #: Written into the system prompt; a draft that repeats it leaked the prompt.
        self.canary = f"bo-{secrets.token_hex(6)}"

    def draft(self, request: DraftRequest) -> Draft:
        reference = render_message(request.kind, request.values, self.prompts)
        flags = tuple(str(f) for f in hostile.inspect(request.customer_text or ""))
        if self.model is None:
            return _draft(request.kind, reference, "template", flags=flags)
        attempts = _Attempts(self.model, self._messages(request, reference), self.prompts)
        problems: list[str] = []
        for source in _MODEL_SOURCES:
            try:
                text = attempts.run(problems)
            except _ModelFailed as failure:
                problems.append(str(failure))
                break
            trouble = self._trouble(text, request.facts, reference)
            if not trouble:
                assert text is not None
                draft_flags = hostile.inspect(_joined(text), hostile.DRAFT_RULES)
                return _draft(
                    request.kind,
                    text,
                    source,
                    problems=problems,
                    flags=flags + tuple(str(f) for f in draft_flags),
                    tokens=attempts.tokens,
                )
            problems += trouble
        draft = _draft(
            request.kind,
            reference,
            "template_fallback",
            problems=problems,
            flags=flags,
            tokens=attempts.tokens,
        )
        self._record_fallback(request, draft)
        return draft

    def unattended(self, request: DraftRequest) -> tuple[DraftText | Draft, str, tuple[str, ...]]:
        """The text to send with nobody reading it first, where it came from, and any flags.

        A flagged draft (hostile text seen) is replaced by the template: nothing
        flagged reaches a customer unless a person has read it. Collections,
        dispute and order emails all send through this.
        """
        draft = self.draft(request)
        if draft.needs_human:
            template = render_message(request.kind, request.values, self.prompts)
            return template, "template_flagged", draft.flags
        return draft, draft.source, draft.flags

    def _trouble(
        self, text: DraftText | None, facts: DraftFacts, reference: DraftText
    ) -> list[str]:
        """Why ``text`` cannot go out: no draft at all, figures off the facts, a prompt leak."""
        if text is None:
            return ["the model returned no usable draft (its output did not fit DraftText)"]
        trouble = [m.describe() for m in grounding.check(text, facts, reference)]
        if self.canary in _joined(text):
            trouble.append("the draft repeats the system prompt's internal marker")
        return trouble

    def _messages(self, request: DraftRequest, reference: DraftText) -> list[BaseMessage]:
        system = render_prompt(
            "system",
            {"customer_name": request.facts.customer_name, "canary": self.canary},
            self.prompts,
        )
        user = render_prompt(
            "draft",
            {
                "kind": request.kind,
                "facts": request.facts,
                "invoices": _invoice_lines(request.facts),
                "figures": _figures(request.facts),
                "reference": reference,
                "customer_text": request.customer_text,
            },
            self.prompts,
        )
        return [SystemMessage(system), HumanMessage(user)]

    def _record_fallback(self, request: DraftRequest, draft: Draft) -> None:
        log.warning("draft %s fell back to the template: %s", request.reference, draft.problems)
        with transaction(self.sessions) as session:
            audit.record(
                session,
                at=request.now,
                actor=request.actor,
                action="draft.template_fallback",
                subject_type="customer" if request.facts.customer_id else "draft",
                subject_id=request.facts.customer_id or request.reference[:64],
                after={
                    "reference": request.reference,
                    "kind": request.kind,
                    "problems": list(draft.problems),
                    "flags": list(draft.flags),
                },
                reason="the model's drafts did not match the facts",
            )


_MODEL_SOURCES: tuple[Source, Source] = ("model", "model_retry")


class _ModelFailed(Exception):
    """The model could not be reached or refused the request; retrying the draft cannot help."""


class _Attempts:
    """Calls to the model for one draft, carrying the conversation and the token count."""

    def __init__(self, model: BaseChatModel, messages: list[BaseMessage], prompts: Path) -> None:
        self.structured = model.with_structured_output(
            DraftText, method="function_calling", include_raw=True
        )
        self.messages = messages
        self.prompts = prompts
        self.tokens = (0, 0)

    def run(self, problems: Sequence[str]) -> DraftText | None:
        """One draft, or None when the output did not parse; a retry names earlier problems."""
        messages = list(self.messages)
        if problems:
            messages.append(
                HumanMessage(render_prompt("retry", {"problems": problems}, self.prompts))
            )
        try:
            result: dict[str, Any] = self.structured.invoke(messages)  # type: ignore[assignment]
        except OpenAIError as error:
            raise _ModelFailed(f"the model failed: {type(error).__name__}: {error}") from error
        raw = result.get("raw")
        if isinstance(raw, AIMessage) and raw.usage_metadata:
            self.tokens = (
                self.tokens[0] + raw.usage_metadata["input_tokens"],
                self.tokens[1] + raw.usage_metadata["output_tokens"],
            )
        parsed = result.get("parsed")
        return parsed if isinstance(parsed, DraftText) else None


def _draft(
    kind: str,
    text: DraftText,
    source: Source,
    *,
    problems: Sequence[str] = (),
    flags: tuple[str, ...] = (),
    tokens: tuple[int, int] = (0, 0),
) -> Draft:
    return Draft(
        kind=kind,
        subject=text.subject.strip(),
        body=text.body.strip() + "\n",
        approver_summary=text.approver_summary.strip(),
        source=source,
        problems=tuple(problems),
        flags=flags,
        prompt_tokens=tokens[0],
        completion_tokens=tokens[1],
    )


def _joined(text: DraftText) -> str:
    return "\n".join((text.subject, text.body, text.approver_summary))


def _invoice_lines(facts: DraftFacts) -> list[dict[str, str]]:
    return [
        {
            "number": i.number,
            "balance": format_money(i.balance, i.currency),
            "total": format_money(i.total, i.currency) if i.total is not None else "",
            "due_date": i.due_date.isoformat() if i.due_date else "",
            "issue_date": i.issue_date.isoformat() if i.issue_date else "",
        }
        for i in facts.invoices
    ]


def _figures(facts: DraftFacts) -> list[tuple[str, str]]:
    """The named facts as the model should see them, each in the form it should copy."""
    figures = [(k, format_money(m.amount, m.currency)) for k, m in facts.amounts.items()]
    figures += [
        (k, f"{d.isoformat()} ({d:%A}, {d:%B} {d.day}, {d.year})") for k, d in facts.dates.items()
    ]
    figures += [(k, f"{p.normalize():f}%") for k, p in facts.percentages.items()]
    figures += [(k, str(n)) for k, n in facts.counts.items()]
    figures += list(facts.references.items())
    return figures
