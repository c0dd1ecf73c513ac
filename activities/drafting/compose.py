"""Drafting one message: the template always, the model when one is configured, held to the facts.

The template-only draft is rendered first: it is the message when no model
is configured, the model's reference, and the fallback. The model writes
with placeholders and its draft must pass :class:`~activities.drafting.review.DraftReview`
(no figure typed, everything the step must say, nothing copied from the
customer or the prompt); a draft that fails is sent back once with each
problem named, and if the second one fails too (or the model cannot be
reached) the template-only draft goes out and the fallback is audited.
Outside text and the model's own sentences are inspected for hostile
content, and a draft with sentences of the model's own is ``held``: either
puts a person in front of it.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy.orm import Session, sessionmaker

from activities.drafting import hostile
from activities.drafting.facts import Draft, DraftRequest, DraftText, Source
from activities.drafting.links import load_allowed_links
from activities.drafting.review import DraftReview
from activities.drafting.templates import (
    PROMPTS,
    render_marked,
    render_message,
    render_prompt,
    requirements,
    unmarked_text,
)
from activities.drafting.untrusted import unmarked
from activities.ledger import audit
from activities.ledger.db import transaction

if TYPE_CHECKING:  # LangChain and openai load with a model (activities/drafting/model.py): a
    # worker or command on templates does without them (bench/collections_scale.py)
    from langchain_core.language_models import BaseChatModel
    from langchain_core.messages import BaseMessage

log = logging.getLogger("billing_ops.drafting")


class Drafter:
    """Drafts messages for every part of the product that writes to customers.

    ``model`` is ``None`` when no OpenAI key is configured: drafts are then
    exactly the rendered templates. ``allowed_links`` are the starts of the
    only links a draft may hold (``config/drafting.yaml``).
    """

    def __init__(
        self,
        sessions: sessionmaker[Session],
        model: BaseChatModel | None = None,
        prompts: Path = PROMPTS,
        allowed_links: Sequence[str] | None = None,
    ) -> None:
        self.sessions = sessions
        self.model = model
        self.prompts = prompts
        self.allowed_links = (
            tuple(allowed_links) if allowed_links is not None else load_allowed_links()
        )
        #: Written into the system prompt; a draft that repeats it leaked the prompt.
        self.canary = f"bo-{secrets.token_hex(6)}"

    def draft(self, request: DraftRequest) -> Draft:
        marked = render_marked(request.kind, request.values, request.untrusted, self.prompts)
        reference = unmarked_text(marked)
        flags = intake_flags(request)
        if self.model is None:
            return _draft(request.kind, reference, "template", flags=flags)
        system = self._system_prompt(request)
        problems: list[str] = []
        try:
            review = DraftReview(
                request.facts,
                marked,
                requirements(request.kind, self.prompts),
                untrusted=[request.customer_text or "", *request.untrusted.values()],
                prompts=[system, render_prompt("retry", {"problems": []}, self.prompts)],
                allowed_links=self.allowed_links,
            )
        except Exception as error:  # any fault of the checks fails closed
            return self._unchecked(request, reference, flags, problems, error, (0, 0))
        attempts = _Attempts(self.model, self._messages(request, review, system), self.prompts)
        for source in _MODEL_SOURCES:
            try:
                text = attempts.run(problems)
            except _ModelFailed as failure:
                problems.append(str(failure))
                break
            try:
                checked = review.check(text, self.canary)
            except Exception as error:  # any fault of the checks fails closed
                return self._unchecked(request, reference, flags, problems, error, attempts.tokens)
            if checked.text is not None:
                return _draft(
                    request.kind,
                    checked.text,
                    source,
                    problems=problems,
                    flags=flags + checked.flags,
                    held=checked.held,
                    tokens=attempts.tokens,
                )
            problems += checked.problems
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

    def _unchecked(
        self,
        request: DraftRequest,
        reference: DraftText,
        flags: tuple[str, ...],
        problems: list[str],
        error: Exception,
        tokens: tuple[int, int],
    ) -> Draft:
        """The checks raised: the model's draft is not used, and the template goes to a person.

        Fails closed: a draft nobody could check is never sent, and the template that
        replaces it carries a flag so that it is not sent unattended either (a ticket
        reply waits for a reviewer; an email falls back to the template, flagged).
        """
        log.exception("the checks on draft %s could not run", request.reference)
        why = f"the checks on the model's draft could not run ({type(error).__name__}: {error})"
        draft = _draft(
            request.kind,
            reference,
            "template_fallback",
            problems=[*problems, why],
            flags=(*flags, f"unchecked: {why}"),
            tokens=tokens,
        )
        self._record_fallback(request, draft)
        return draft

    def unattended(self, request: DraftRequest) -> tuple[DraftText | Draft, str, tuple[str, ...]]:
        """The text to send with nobody reading it first, where it came from, and any flags.

        Only a draft that earned it goes out unattended: template sentences and
        filled placeholders, nothing flagged. Otherwise the template is sent
        (``template_flagged`` when hostile text was seen, ``template_held`` when
        the model wrote sentences of its own). Collections, dispute and order
        emails all send through this.
        """
        draft = self.draft(request)
        if draft.needs_human:
            template = render_message(request.kind, request.values, self.prompts, request.untrusted)
            return template, "template_flagged" if draft.flags else "template_held", draft.flags
        return draft, draft.source, draft.flags

    def _system_prompt(self, request: DraftRequest) -> str:
        return render_prompt("system", {"canary": self.canary}, self.prompts)

    def _messages(
        self, request: DraftRequest, review: DraftReview, system: str
    ) -> list[BaseMessage]:
        from langchain_core.messages import HumanMessage, SystemMessage

        user = render_prompt(
            "draft",
            {
                "kind": request.kind,
                "placeholders": _described(review.values),
                "reference": review.model_reference(),
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
                reason="the model's drafts did not say what the message must, from the facts",
            )


def intake_flags(request: DraftRequest) -> tuple[str, ...]:
    """Hostile-text findings in everything outside that the request carries."""
    texts = [request.customer_text or "", *request.untrusted.values()]
    findings = dict.fromkeys(request.intake_flags)
    findings |= {str(f): None for text in texts for f in hostile.inspect(text)}
    return tuple(findings)


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
        from langchain_core.messages import AIMessage, HumanMessage
        from openai import OpenAIError

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
    held: tuple[str, ...] = (),
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
        held=held,
        prompt_tokens=tokens[0],
        completion_tokens=tokens[1],
    )


def _described(values: dict[str, str]) -> list[tuple[str, str]]:
    """The placeholders as the model is shown them: name and what it stands for, one line."""
    return [(name, unmarked(value).replace("\n", " / ")) for name, value in values.items()]
