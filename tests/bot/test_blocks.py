"""Block Kit builders, compared payload for payload: what Slack will be sent."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from bot.blocks.approvals import ApprovalFacts, decided_message, reason_modal, request_message
from bot.blocks.kit import amounts, fields, when
from bot.commands import RecordPromise, SubscriptionChange, Usage, parse

FACTS = ApprovalFacts(
    request_id="APR-0A1B2C3D4E",
    action="write_off",
    amount="$2,400.00",
    customer_id="CUS-0042",
    summary="Write off INV-000311 & INV-000340: <company dissolved>",
    requested_by="workflow `collections-CUS-0042`",
    role="billing_manager",
    approvers=("<@U0BILLMGR1>",),
    due_at=datetime(2026, 11, 4, 14, 0, tzinfo=UTC),
)


def test_an_approval_request_message() -> None:
    assert request_message(FACTS) == {
        "text": "Approval needed: write off $2,400.00 for CUS-0042",
        "blocks": [
            {
                "type": "header",
                "text": {
                    "type": "plain_text",
                    "text": "Approval needed: write off $2,400.00 for CUS-0042",
                },
            },
            {
                "type": "section",
                "text": {
                    "type": "mrkdwn",
                    "text": "Write off INV-000311 &amp; INV-000340: &lt;company dissolved&gt;",
                },
            },
            {
                "type": "section",
                "fields": [
                    {
                        "type": "mrkdwn",
                        "text": "*Requested by*\nworkflow `collections-CUS-0042`",
                    },
                    {"type": "mrkdwn", "text": "*Needs*\nbilling manager: <@U0BILLMGR1>"},
                    {
                        "type": "mrkdwn",
                        "text": "*Due*\n<!date^1793800800^{date_short_pretty} {time}|"
                        "2026-11-04 14:00 UTC>",
                    },
                    {"type": "mrkdwn", "text": "*Request*\n`APR-0A1B2C3D4E`"},
                ],
            },
            {
                "type": "actions",
                "block_id": "approval:APR-0A1B2C3D4E",
                "elements": [
                    {
                        "type": "button",
                        "text": {"type": "plain_text", "text": "Approve", "emoji": True},
                        "action_id": "approval.approve",
                        "value": "APR-0A1B2C3D4E",
                        "style": "primary",
                        "confirm": {
                            "title": {"type": "plain_text", "text": "Approve?", "emoji": True},
                            "text": {
                                "type": "plain_text",
                                "text": "Approve write off $2,400.00 for CUS-0042?",
                                "emoji": True,
                            },
                            "confirm": {"type": "plain_text", "text": "Approve", "emoji": True},
                            "deny": {"type": "plain_text", "text": "Cancel", "emoji": True},
                        },
                    },
                    {
                        "type": "button",
                        "text": {"type": "plain_text", "text": "Reject", "emoji": True},
                        "action_id": "approval.reject",
                        "value": "APR-0A1B2C3D4E",
                        "style": "danger",
                    },
                    {
                        "type": "button",
                        "text": {"type": "plain_text", "text": "Request changes", "emoji": True},
                        "action_id": "approval.request_changes",
                        "value": "APR-0A1B2C3D4E",
                    },
                ],
            },
        ],
    }


def preview_text(message: dict[str, object]) -> str:
    """The preview as the approver reads it: the quoted sections after the facts, unquoted
    and unescaped (Slack shows ``&lt;`` as ``<``)."""
    blocks = message["blocks"]
    assert isinstance(blocks, list)
    texts = [b["text"]["text"] for b in blocks if b["type"] == "section" and "text" in b]
    start = next(i for i, t in enumerate(texts) if t.startswith("*On approval"))
    lines = "\n".join(texts[start:]).splitlines()[1:]
    assert all(line.startswith(">") for line in lines)
    shown = "\n".join(line[1:] for line in lines)
    return shown.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def test_a_request_shows_the_text_it_sends_escaped_and_whole() -> None:
    """Hostile text in a drafted email (a customer's legal name) is shown, never obeyed,
    and a long email is spread over sections, none over Slack's limit, nothing cut."""
    preview = (
        "To: ap@example.com\nSubject: Final notice: $261.00 past due for "
        "\u201c<!channel> & <https://evil.example|Pay here> Ltd\u201d\n\n"
        + "\n".join(f"INV-{n:06d}  due 2026-09-22  56 days overdue  $1.00 &" for n in range(150))
        + "\n" + "x" * 1200
    )
    message = request_message(replace(FACTS, preview=preview))
    assert "<!channel>" not in json.dumps(message) and "<https://evil" not in json.dumps(message)
    sections = [b for b in message["blocks"] if b["type"] == "section" and "text" in b]
    assert all(len(b["text"]["text"]) <= 3000 for b in sections)
    assert len(sections) > 3
    shown = preview_text(message)
    # over-long lines are shown in pieces of at most 500 characters, each its own quote line
    assert shown.replace("\n", "") == preview.replace("\n", "")
    assert shown.splitlines()[:3] == preview.splitlines()[:3]
    assert message["blocks"][-1]["type"] == "actions"


def test_a_request_without_an_amount_says_none_in_its_title() -> None:
    message = request_message(replace(FACTS, action="suspension", amount=None))
    assert message["text"] == "Approval needed: suspension for CUS-0042"


def test_a_decided_message_has_no_buttons_and_says_who_when_and_why() -> None:
    decided = replace(
        FACTS,
        status="rejected",
        decided_by="<@U0CONTROL1>",
        decided_at=datetime(2026, 11, 3, 9, 30, tzinfo=UTC),
        reason="Dissolution not confirmed",
    )
    message = decided_message(decided)
    assert message["text"] == "Rejected: write off $2,400.00 for CUS-0042"
    assert [block["type"] for block in message["blocks"]] == [
        "header",
        "section",
        "section",
        "section",
    ]
    assert "*Due*" not in json.dumps(message["blocks"][2])  # decided: no deadline any more
    assert message["blocks"][-1] == {
        "type": "section",
        "text": {
            "type": "mrkdwn",
            "text": ":x: *Rejected* by <@U0CONTROL1> · <!date^1793698200^{date_short_pretty} "
            "{time}|2026-11-03 09:30 UTC>\n>Dissolution not confirmed",
        },
    }


def test_the_reason_modal_carries_where_the_message_is() -> None:
    modal = reason_modal(FACTS, "approval.request_changes", "C0APPROVALS", "1790000001.000100")
    assert json.loads(modal["private_metadata"]) == {
        "request_id": "APR-0A1B2C3D4E",
        "action": "approval.request_changes",
        "channel": "C0APPROVALS",
        "ts": "1790000001.000100",
    }
    assert len(modal["title"]["text"]) <= 24  # Slack's limit for a modal title
    assert modal["blocks"][-1]["element"] == {
        "type": "plain_text_input",
        "action_id": "reason",
        "multiline": True,
        "max_length": 2000,
    }


def test_amounts_are_never_added_across_currencies() -> None:
    assert amounts({"USD": Decimal("1200.5"), "JPY": Decimal("15000"), "EUR": Decimal(0)}) == (
        "¥15,000 + $1,200.50"
    )
    assert amounts({}) == "none"


def test_times_show_in_the_readers_timezone_with_a_utc_fallback() -> None:
    assert when(datetime(2026, 11, 2, 15, 0, tzinfo=UTC), "{date_short}") == (
        "<!date^1793631600^{date_short}|2026-11-02 15:00 UTC>"
    )


def test_a_section_holds_at_most_ten_fields() -> None:
    with pytest.raises(ValueError, match="a section holds 1 to 10, got 11"):
        fields([("a", "b")] * 11)


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("dunning stop CUS-1", "Say pause or resume, then the customer id."),
        ("dunning pause CUS-1 until tomorrow", "until: `tomorrow` is not a date like 2026-12-15."),
        ("preview SUB-1 seats 0", "seats: `0` is not a whole number of at least 1."),
        ("promise CUS-1 100 DOLLARS 2026-12-01", "currency: `DOLLARS` is not an ISO 4217 code"),
        ("dispute CUS-1 INV-1", "Give the customer id, the invoice number(s) and what is"),
        ("approvals now", "Expected nothing."),
        ("addon SUB-1 storage=-2", "addon: quantity '-2' must be a whole number from 0"),
    ],
)
def test_bad_arguments_name_the_problem(text: str, problem: str) -> None:
    mistake = parse(text)
    assert isinstance(mistake, Usage)
    assert mistake.problem.startswith(problem)


def test_the_grammar_reads_what_people_type() -> None:
    assert parse("") == parse("help")
    pause = parse("Dunning PAUSE CUS-1 until 2026-12-01 customer asked for a call")
    assert pause == parse("dunning pause CUS-1 until 2026-12-01 customer asked for a call")
    assert parse("addon SUB-1 storage=5") == SubscriptionChange(
        "SUB-1", "addon", addon="storage", addon_on=True, addon_quantity=5
    )
    assert parse("addon SUB-1 storage=0") == SubscriptionChange(
        "SUB-1", "addon", addon="storage", addon_on=False, addon_quantity=0
    )
    promise = parse("promise CUS-1 12,500.00 eur 2026-12-01")
    assert isinstance(promise, RecordPromise)
    assert (promise.amount, promise.currency) == (Decimal("12500.00"), "EUR")
