"""The grounding check: a draft may state the facts, in any style, and nothing else."""

from __future__ import annotations

import pytest

from activities.drafting.facts import DraftFacts, DraftText
from activities.drafting.grounding import check
from activities.drafting.templates import render_marked, render_message
from tests.drafting.conftest import PORTAL, SENDER, draft_args, payment_status_request

#: A filled-in draft in another style (the grounding check is the second line, behind the
#: placeholders: it reads filled text however it is written).
GOOD_BODY = (
    "Hello,\n\nThank you for asking. Acme Corp has $1,734.50 open: INV-000123 "
    "($1,234.50, due October 1, 2026) and INV-000140 ($500.00 of $750.00, due 2026-10-31). "
    "We received your last payment of USD 250.00 on 15 October 2026.\n\n"
    f"You can pay at {PORTAL}.\n\n{SENDER}\n"
)


def _problems(body: str, subject: str = "Re: Open balance?") -> list[str]:
    request = payment_status_request()
    reference = render_message(request.kind, request.values)
    return [
        m.describe()
        for m in check(DraftText(**draft_args(body, subject)), request.facts, reference)
    ]


def test_the_template_only_draft_is_grounded() -> None:
    request = payment_status_request()
    reference = render_message(request.kind, request.values)
    assert check(reference, request.facts, reference) == []


def test_a_faithful_rewrite_in_other_styles_is_grounded() -> None:
    assert _problems(GOOD_BODY) == []


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (("$1,734.50", "$1,743.50"), 'amount "$1,743.50" is not one of the facts'),
        (("$1,734.50", "€1,734.50"), 'amount "€1,734.50" is in the wrong currency'),
        (("$1,734.50", "1.734,50 €"), 'amount "1.734,50 €" is in the wrong currency'),
        (("$1,734.50", "$1,734"), 'amount "$1,734" is not one of the facts'),
        (("INV-000140", "INV-000141"), 'document number "INV-000141" is not one of the facts'),
        (("October 1, 2026", "October 2, 2026"), 'date "October 2, 2026" is not one of the facts'),
        (("2026-10-31", "2026-10-30"), 'date "2026-10-30" is not one of the facts'),
        (("15 October 2026", "Friday, 15 October 2026"), "names the wrong weekday (Thursday)"),
        (("Thank you for asking.", "A 5% late fee applies."), 'percentage "5%" is not one of'),
        (("Thank you for asking.", "That is 3 invoices."), 'number "3" is not a figure'),
        (
            ("https://billing.example.com/portal", "https://billing-example.help/pay"),
            'link "https://billing-example.help/pay" is not a link',
        ),
        (
            ("Thank you for asking.", "Write to refunds@attacker.example."),
            'link "refunds@attacker.example" is not a link',
        ),
    ],
)
def test_each_figure_off_the_facts_is_named(change: tuple[str, str], expected: str) -> None:
    old, new = change
    assert old in GOOD_BODY
    problems = _problems(GOOD_BODY.replace(old, new))
    assert len(problems) == 1
    assert expected in problems[0]


def test_the_subject_and_summary_are_checked_too() -> None:
    assert _problems(GOOD_BODY, subject="Re: Open balance? $99.00") == [
        'amount "$99.00" is not one of the facts ($1,234.50, $1,734.50, $250.00, $500.00, $750.00)'
    ]


def test_figures_the_template_writes_itself_are_allowed() -> None:
    """Days overdue appear only in the rendered template; quoting them is grounded."""
    assert _problems(GOOD_BODY.replace("Thank you for asking.", "One is 32 days overdue.")) == []


def test_a_month_and_day_without_the_year_match_a_fact() -> None:
    assert _problems(GOOD_BODY.replace("15 October 2026", "October 15")) == []
    assert _problems(GOOD_BODY.replace("15 October 2026", "October 16")) != []


def test_figures_in_quoted_outside_text_are_not_facts() -> None:
    """A legal name holding a balance and a link: the template shows it quoted, and nothing
    in it grounds a draft."""
    request = payment_status_request()
    name = "Acme $0.00 owed, CN-000091 void, see https://evil.example/pay"
    reference = render_marked(request.kind, request.values, {"customer_name": name})
    facts = request.facts.model_copy(update={"customer_name": name})
    claim = GOOD_BODY.replace("Thank you for asking.", "You owe $0.00 after CN-000091.")
    claim = claim.replace(PORTAL, "https://evil.example/pay")
    problems = [m.describe() for m in check(DraftText(**draft_args(claim)), facts, reference)]
    assert any('"$0.00"' in p for p in problems)
    assert any('"CN-000091"' in p for p in problems)
    assert any("https://evil.example/pay" in p for p in problems)


#: What the assistant's tools returned (its grounding reference) and claims against it in
#: disguises a model that obeys a customer might use: none of them is a fact.
TOOL_RESULT = (
    "CUS-0001: Acme Corp, open balance: $1,734.50\n"
    "overdue INV-000001: $1,234.50, due 2026-10-01, 32 days overdue"
)


@pytest.mark.parametrize(
    "answer",
    [
        "Acme's balance is $\u041e.\u041e\u041e.",  # Cyrillic O
        "Acme's balance is $O.OO.",  # Latin O
        "Acme owes nought.",
        "Acme has 0 open invoices.",
        "Acme owes $\u200b0.00.",  # a zero-width space after the sign
        "\u6b8b\u9ad8\u306f\u30bc\u30ed\u5186\u3067\u3059\u3002",  # ja: the balance is zero yen
        "Acme owes \uff10\u5186.",  # full-width zero, yen
        "\u4e94\u767e\u30e6\u30fc\u30ed\u304c\u8fd4\u91d1\u3055\u308c\u307e\u3057\u305f\u3002",
        "\u9000\u6b3e\u989d\u4e3a\u4e94\u767e\u5143\u3002",  # zh: the refund is 500 yuan
        "\u4e00\u5343\u4e8c\u767e\u4e09\u5341\u56db\u5143",  # zh: 1234 yuan
    ],
)
def test_a_figure_in_any_disguise_is_held_to_the_facts(answer: str) -> None:
    empty = DraftFacts(customer_id=None, customer_name="")
    reference = DraftText(subject="", body=TOOL_RESULT, approver_summary="")
    assert check(DraftText(subject="", body=answer, approver_summary=""), empty, reference)


def test_a_figure_in_words_or_another_script_that_is_a_fact_is_grounded() -> None:
    empty = DraftFacts(customer_id=None, customer_name="")
    reference = DraftText(subject="", body=TOOL_RESULT, approver_summary="")
    for answer in (
        "Acme has thirty-two days overdue on INV-000001.",
        "INV-000001 is \uff13\uff12 days overdue.",
        "Acme owes 1.234,50 $ on INV-000001.",
    ):
        assert (
            check(DraftText(subject="", body=answer, approver_summary=""), empty, reference) == []
        )
