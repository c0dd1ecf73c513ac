"""Which kind of billing request a ticket is, decided by rules a person can read.

Classification decides what happens to money and to the ticket (a dispute
opens a dispute workflow; only low-risk kinds may auto-send), so it is not
left to the model: the rules below are checked in order, riskiest first,
and the first that matches wins. A ticket that matches none is ``other``
and always goes to a person.
"""

from __future__ import annotations

import re

from activities.zendesk.policy import Category

_RULES: tuple[tuple[Category, re.Pattern[str]], ...] = (
    (
        "dispute",
        re.compile(
            r"\bdisput|\bincorrect (?:charge|invoice|amount)"
            r"|\bwrong (?:amount|charge|invoice|price)"
            r"|\bover-?charg|\bcharged (?:us )?twice|\bduplicate (?:charge|payment|invoice)"
            r"|\b(?:we|i) (?:do not|don't) agree\b|\bshould (?:only )?be \d+ seats\b"
            r"|\bbilled for \d+ seats\b",
        ),
    ),
    (
        "refund_request",
        re.compile(r"\brefund|\bmoney back\b|\breimburse"),
    ),
    (
        "cancellation",
        re.compile(
            r"\bcancel|\bterminat|\bnot (?:to )?renew|\bend (?:our|the) (?:subscription|contract)"
        ),
    ),
    (
        "account_change",
        re.compile(
            r"\b(?:billing|invoice|company|mailing) address\b|\baddress change|\bpo number\b"
            r"|\bpurchase order\b|\bvat (?:number|id)\b|\btax (?:id|number|exempt)"
            r"|\bexemption certificate\b|\bbilling contact\b|\blegal (?:entity|name)\b",
        ),
    ),
    (
        "invoice_copy",
        re.compile(
            r"\b(?:copy|copies) of (?:the |our |my )?invoice|\b(?:re-?send|send) (?:us |me )?"
            r"(?:the |our |my |a )?(?:invoice|receipt)|\binvoice (?:copy|pdf)\b|\bpdf\b|\breceipt\b"
        ),
    ),
    (
        "payment_status",
        re.compile(
            r"\bbalance\b|\boutstanding\b|\bowe\b|\boverdue\b|\bstatement\b"
            r"|\b(?:payment|invoice) status\b|\b(?:received|receive) (?:our|my|the) payment\b"
            r"|\bhave (?:we|i) paid\b|\bis (?:it|this|the invoice) paid\b|\bpaid\b"
        ),
    ),
)


def classify(subject: str, text: str) -> Category:
    """The kind of request in a ticket's subject and latest customer comment."""
    words = f"{subject}\n{text}".lower()
    for category, pattern in _RULES:
        if pattern.search(words):
            return category
    return "other"
