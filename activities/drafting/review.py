"""Holding a model's draft to what its step must say, and to nothing the customer wrote.

The model writes with placeholders (:mod:`placeholders`); this module checks
one draft before the product fills them in. A draft is refused (the model is
told why, once, then the template is used) when:

- its subject is not one line of at most :data:`SUBJECT_LIMIT` characters;
- it names a placeholder the facts do not have;
- its own words (any sentence that is not the template's) hold a figure, a
  link, an address or an id (:mod:`figures`): the model never types one;
- it leaves out a fact its template declares (``{# requires: ... #}``);
- it repeats the customer's words, or holds prompt text or tags;
- it links anywhere outside the configured allow-list;
- its body is too short to say anything.

A draft that passes may still hold sentences in the model's own words. Those
are claims nobody has checked against the ledger (a void, a credit, a
promise, "nothing owed"), in whatever language: such a draft is ``held``, a
person reads it before it goes out, with each sentence shown. A sentence (or
the summary for the approver) that claims a status, a commitment or a
concession (:mod:`claims`: paid, refunded, waived, "as agreed", ...) that no
ledger status among the facts supports is named first, as an unsupported
claim; the customer's own words in quotation marks are attributed, not
claimed. A draft made of template sentences and filled placeholders only, and
a summary that claims nothing unsupported, has earned going out unattended.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from activities.drafting import claims, figures, grounding, hostile, placeholders
from activities.drafting.facts import DraftFacts, DraftText
from activities.drafting.mentions import find_mentions
from activities.drafting.untrusted import MARKS, Quotes, unmarked, without_quotes

SUBJECT_LIMIT = 150
#: A body with fewer words says nothing ("Suspension").
MIN_BODY_WORDS = 8
#: Consecutive words shared with the customer's text that count as repeating it.
REPEAT_WORDS = 6
#: Consecutive words shared with the prompts that count as leaking them.
LEAK_WORDS = 7

_TAG = re.compile(r"</?\s*[A-Za-z_][\w-]*(?:\s[^<>]*)?/?>")
_PROMPT_WORDS = re.compile(
    r"\bFACTS\b|\bREFERENCE DRAFT\b|\bPLACEHOLDERS\b|customer_message|DraftText|approver_summary"
    r"|only figures you may use|^\s*Subject:",
    re.MULTILINE,
)
_SENTENCE_END = re.compile(r"(?<=[.!?:;])\s+")
_WORD = re.compile(r"\w+")


def sentences(text: str) -> list[str]:
    """The lines of ``text`` cut at sentence ends, whitespace collapsed, empty ones dropped."""
    found = []
    for line in text.splitlines():
        for part in _SENTENCE_END.split(line):
            part = " ".join(part.split())
            if part:
                found.append(part)
    return found


def _shingles(text: str, size: int) -> set[tuple[str, ...]]:
    words = [w.lower() for w in _WORD.findall(text)]
    return {tuple(words[i : i + size]) for i in range(len(words) - size + 1)}


@dataclass(slots=True)
class Checked:
    problems: list[str] = field(default_factory=list)
    #: The draft with its placeholders filled, as the customer would read it.
    text: DraftText | None = None
    #: Why a person must read it: each sentence in the model's own words.
    held: tuple[str, ...] = ()
    #: Hostile-text findings in the model's own words.
    flags: tuple[str, ...] = ()


class DraftReview:
    """Everything one request's drafts are checked against, computed once."""

    def __init__(
        self,
        facts: DraftFacts,
        reference: DraftText,
        required: Sequence[str],
        untrusted: Iterable[str],
        prompts: Iterable[str],
        allowed_links: Sequence[str],
    ) -> None:
        """``reference`` is the template draft with untrusted text still marked."""
        self.facts = facts
        self.values = placeholders.table(facts)
        self.reference = DraftText(
            subject=placeholders.abstract(reference.subject, self.values),
            body=placeholders.abstract(reference.body, self.values),
            approver_summary=reference.approver_summary,
        )
        self.trusted_reference = DraftText(
            subject=without_quotes(reference.subject),
            body=without_quotes(reference.body),
            approver_summary="",
        )
        # A quote is one word of the template: a sentence inside it is outside text, never a
        # template sentence, and a draft that states it bare has written it in its own words.
        # A sentence may move between subject and body, unless it holds a quote: outside
        # words stay where the template showed them (never the email's headline).
        self.quotes = Quotes(f"{self.reference.subject}\n{self.reference.body}")
        subject = set(sentences(self.quotes.tokens(self.reference.subject)))
        body = set(sentences(self.quotes.tokens(self.reference.body)))
        self.template_sentences = {
            "subject": subject | {s for s in body if not self.quotes.held_in(s)},
            "body": body | {s for s in subject if not self.quotes.held_in(s)},
        }
        used = set(placeholders.named(f"{self.reference.subject}\n{self.reference.body}"))
        self.required = [r for r in required if self._satisfied(r, used)]
        self.customer_shingles: set[tuple[str, ...]] = set()
        outside = list(untrusted)
        for text in outside:
            self.customer_shingles |= _shingles(text, REPEAT_WORDS)
        #: Everything outside in one text: words quoted from it are attributed, not claimed.
        self.outside = "\n".join(outside)
        self.prompt_shingles: set[tuple[str, ...]] = set()
        for text in prompts:
            self.prompt_shingles |= _shingles(text, LEAK_WORDS)
        self.allowed_links = tuple(link.lower() for link in allowed_links)

    def model_reference(self) -> DraftText:
        """The template draft in placeholders, as the model is shown it."""
        return DraftText(
            subject=unmarked(self.reference.subject),
            body=unmarked(self.reference.body),
            approver_summary="",
        )

    def check(self, text: DraftText | None, canary: str) -> Checked:
        if text is None:
            return Checked(["the model returned no usable draft (its output was not a DraftText)"])
        problems: list[str] = []
        subject = text.subject.strip()
        if not subject or "\n" in subject or len(subject) > SUBJECT_LIMIT:
            problems.append(f"the subject must be one line of 1 to {SUBJECT_LIMIT} characters")
        whole = f"{text.subject}\n{text.body}\n{text.approver_summary}"
        unknown = placeholders.unknown(whole, self.values)
        if unknown:
            problems.append(
                "placeholders the facts do not have: " + ", ".join("{" + n + "}" for n in unknown)
            )
        problems += self._leaks(whole, canary)
        prose = [
            self.quotes.text(s)
            for part, written in (("subject", text.subject), ("body", text.body))
            for s in sentences(self.quotes.tokens(written))
            if s not in self.template_sentences[part]
        ]
        for sentence in [*prose, text.approver_summary]:
            typed = figures.find(sentence)
            if typed:
                problems.append(
                    f'"{sentence[:80]}" types {"; ".join(typed)}: write facts only as placeholders'
                )
        for sentence in prose:
            if _shingles(sentence, REPEAT_WORDS) & self.customer_shingles:
                problems.append(f'"{sentence[:80]}" repeats the customer\'s words')
        used = set(placeholders.named(whole))
        missing = [r for r in self.required if not self._satisfied(r, used)]
        if missing:
            problems.append(
                "the draft leaves out what this message must state: " + ", ".join(missing)
            )
        if len(_WORD.findall(placeholders.PLACEHOLDER.sub(" x ", text.body))) < MIN_BODY_WORDS:
            problems.append("the body is too short to say anything")
        filled = DraftText(
            subject=placeholders.fill(text.subject, self.values),
            body=placeholders.fill(text.body, self.values),
            approver_summary=placeholders.fill(text.approver_summary, self.values),
        )
        problems += self._links(filled)
        prose_filled = DraftText(
            subject="",
            body="\n".join(without_quotes(placeholders.fill(s, self.values)) for s in prose),
            approver_summary=without_quotes(filled.approver_summary),
        )
        problems += [
            m.describe() for m in grounding.check(prose_filled, self.facts, self.trusted_reference)
        ]
        if problems:
            return Checked(problems)
        held = self._claims(prose, text.approver_summary) + tuple(
            self._held(sentence) for sentence in prose
        )
        # The summary too: it is the model's own words to the person who decides.
        flags = hostile.inspect(
            "\n".join(
                unmarked(placeholders.fill(s, self.values)) for s in [*prose, text.approver_summary]
            ),
            hostile.DRAFT_RULES,
        )
        return Checked(
            [],
            DraftText(
                subject=unmarked(filled.subject),
                body=unmarked(filled.body),
                approver_summary=unmarked(filled.approver_summary),
            ),
            held,
            tuple(str(f) for f in flags),
        )

    def _claims(self, prose: Sequence[str], summary: str) -> tuple[str, ...]:
        """Each claim in the model's words (and its summary) that no ledger status supports."""
        found = []
        for where, sentence in [*(("draft", s) for s in prose), ("summary", summary)]:
            shown = unmarked(placeholders.fill(sentence, self.values))
            for claim in claims.unsupported(claims.find(shown, self.outside), self.facts.statuses):
                said = "the draft" if where == "draft" else "the summary for you"
                found.append(
                    f"UNSUPPORTED CLAIM: {said} {claim.describe()}, and no ledger record given "
                    f"to the draft says so: {shown!r}"
                )
        return tuple(found)

    def _held(self, sentence: str) -> str:
        shown = unmarked(placeholders.fill(sentence, self.values))
        names = placeholders.named(sentence)
        about = f" about {', '.join('{' + n + '}' for n in names)}" if names else ""
        return f"the model's own words{about}, not checked against the ledger: {shown!r}"

    def _satisfied(self, requirement: str, used: set[str]) -> bool:
        invoices = self.facts.invoices
        if requirement == "invoices":
            if "invoice_list" in used:
                return True
            return bool(invoices) and all(
                f"invoice_{n}.number" in used or (len(invoices) == 1 and "invoice.number" in used)
                for n in range(1, len(invoices) + 1)
            )
        if requirement == "due_dates":
            if "invoice_list" in used:
                return True
            dated = [n for n, i in enumerate(invoices, start=1) if i.due_date is not None]
            return bool(dated) and all(
                f"invoice_{n}.due_date" in used
                or (len(invoices) == 1 and "invoice.due_date" in used)
                for n in dated
            )
        return any(name == requirement or name.startswith(f"{requirement}_") for name in used)

    def _leaks(self, text: str, canary: str) -> list[str]:
        problems = []
        if canary in text:
            problems.append("the draft repeats the system prompt's internal marker")
        if MARKS.search(text):
            problems.append("the draft holds private-use characters (the product's own marks)")
        for pattern, what in ((_TAG, "a tag"), (_PROMPT_WORDS, "prompt text")):
            match = pattern.search(text)
            if match:
                problems.append(f'the draft holds {what}: "{match.group(0).strip()[:40]}"')
        if _shingles(text, LEAK_WORDS) & self.prompt_shingles:
            problems.append("the draft repeats the instructions it was given")
        return problems

    def _links(self, text: DraftText) -> list[str]:
        found = find_mentions(
            without_quotes(f"{text.subject}\n{text.body}\n{text.approver_summary}")
        )
        return [
            f'link "{link}" is not on the allow-list of links (config/drafting.yaml)'
            for link in found.links
            if not link.startswith(self.allowed_links) or "@" in link
        ]
