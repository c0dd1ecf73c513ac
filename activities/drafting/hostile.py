"""Spotting customer text that tries to steer the assistant, and drafts that took the bait.

Customer words reach the model only as quoted data, and the model has no
tool that moves money, so hostile text cannot act by itself. This detector
is the second line: a message that tries to override instructions, fish for
the system prompt or other customers' data, talk its way into a credit, or
change where payments go is flagged so that a person reads the draft
before anything is sent. It errs on the side of flagging: a false alarm costs
one human read, a miss could cost a payment.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_I = re.IGNORECASE


@dataclass(frozen=True, slots=True)
class Finding:
    category: str
    excerpt: str

    def __str__(self) -> str:
        return f"{self.category}: {self.excerpt!r}"


_RULES: tuple[tuple[str, re.Pattern[str]], ...] = (
    (
        "instruction override",
        re.compile(
            r"\b(?:ignore|disregard|forget|override|bypass)\b[^.\n]{0,40}"
            r"\b(?:instructions?|rules?|prompts?|guidelines|polic(?:y|ies)|restrictions|above|previous)\b"
            r"|\byou are now\b|\bnew instructions\b|\bdeveloper mode\b|\bjailbreak|\bDAN\b"
            r"|\bact as (?:an?|the) |\bpretend (?:to be|you are)\b"
            r"|<\|?(?:im_start|im_end|system|endoftext)\|?>|\[/?INST\]|^\s*(?:system|assistant)\s*:",
            _I | re.MULTILINE,
        ),
    ),
    (
        "prompt or secret fishing",
        re.compile(
            r"\b(?:system|hidden|initial|original)\s+(?:prompt|instructions|message)"
            r"|\b(?:reveal|print|repeat|show|output|tell me)\b[^.\n]{0,40}"
            r"\b(?:your (?:prompt|instructions|rules|configuration)"
            r"|api[- ]?keys?|passwords?|tokens?|credentials)\b"
            r"|\bapi[- ]?key\b",
            _I,
        ),
    ),
    (
        "other customers' data",
        re.compile(
            r"\b(?:other|another|all|every|different)\s+(?:customers?|clients?|accounts?|companies|tenants?)\b"
            r"|\b(?:customer|client|account)\s+(?:list|database|records)\b"
            r"|\binvoices?\s+(?:of|for|belonging to)\s+(?:another|other|a different)\b",
            _I,
        ),
    ),
    (
        "asks for money to move",
        re.compile(
            r"\b(?:issue|apply|give|grant|approve|add|process|credit|send|transfer|wire)\b"
            r"[^.\n]{0,40}\b(?:credits?|refunds?|discounts?|rebates?|compensation|money back)\b"
            r"|\b(?:waive|write[- ]off|cancel)\b[^.\n]{0,30}"
            r"\b(?:invoices?|balance|fees?|charges?|debt)\b"
            r"|\bmark\b[^.\n]{0,30}\bas paid\b|\b(?:zero|clear)\s+(?:the|our|my)?\s*balance\b"
            r"|\b100\s?%\s+(?:discount|off|credit)\b|\bfree of charge\b",
            _I,
        ),
    ),
    (
        "payment details change",
        re.compile(
            r"\b(?:new|changed?|updated?|different)\b[^.\n]{0,30}"
            r"\b(?:bank|banking|remittance|wire|payment|account)\s+(?:details|information|info|instructions|account|number)\b"
            r"|\b(?:IBAN|SWIFT|BIC|routing number|sort code|account number)\b"
            r"|\b(?:pay|send|remit|wire)\b[^.\n]{0,30}\bto (?:our|this|the following|a) new\b",
            _I,
        ),
    ),
    (
        "hidden text",
        re.compile(
            r"[\u200b-\u200f\u202a-\u202e\u2060-\u2064\ufeff]|<!--|<script\b|[A-Za-z0-9+/]{60,}={0,2}",
            _I,
        ),
    ),
)


#: What a model's draft must never contain, whatever the customer wrote.
DRAFT_RULES = frozenset(
    {"instruction override", "prompt or secret fishing", "payment details change", "hidden text"}
)


def inspect(text: str, only: frozenset[str] | None = None) -> tuple[Finding, ...]:
    """Every rule ``text`` trips, with the words that tripped it (one finding per rule).

    ``only`` limits the rules by category: :data:`DRAFT_RULES` for a draft,
    which may rightly mention a refund but never new bank details.
    """
    findings = []
    for category, pattern in _RULES:
        if only is not None and category not in only:
            continue
        match = pattern.search(text)
        if match:
            findings.append(Finding(category, _excerpt(text, match)))
    return tuple(findings)


def _excerpt(text: str, match: re.Match[str]) -> str:
    start, end = match.span()
    snippet = text[max(0, start - 20) : min(len(text), end + 20)]
    return " ".join(snippet.split())[:120]
