"""`/billing` through the real Bolt app over HTTP: signed requests in, Block Kit out."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from slack_bolt.listener import asyncio_runner
from slack_bolt.util.utils import create_copy
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from activities.ledger.models import (
    ContractType,
    CustomerNote,
    Interval,
    ItemKind,
    Order,
    OrderStatus,
    PromiseToPay,
    Subscription,
    SubscriptionItem,
    SubscriptionStatus,
)
from tests.bot import slack_requests
from tests.bot.conftest import ANALYST, NOW, SALES, STRANGER, BotUnderTest
from tests.ledger import factories


@pytest.fixture
def book(sqlite_sessions: sessionmaker[Session]) -> sessionmaker[Session]:
    """Two customers: CUS-1 (USD) with one overdue and one current invoice, CUS-2 (EUR)."""
    with sqlite_sessions.begin() as session:
        factories.customer(session, "CUS-1", legal_name="Acme Analytics Inc")
        factories.customer(session, "CUS-2", currency="EUR", legal_name="Bolt GmbH")
        factories.open_invoice(session, "CUS-1", "1200.00", date(2026, 9, 20))  # 43 days late
        factories.open_invoice(session, "CUS-1", "300.50", date(2026, 11, 20))
        factories.open_invoice(session, "CUS-2", "99.99", date(2026, 10, 1), currency="EUR")
        session.add(
            Subscription(
                id="SUB-1",
                customer_id="CUS-1",
                plan="business",
                interval=Interval.MONTH,
                contract_type=ContractType.SELF_SERVE_MONTHLY,
                status=SubscriptionStatus.ACTIVE,
                currency="USD",
                term_start=datetime(2026, 11, 1, tzinfo=UTC),
                term_end=datetime(2027, 11, 1, tzinfo=UTC),
                billing_anchor=datetime(2026, 11, 1, tzinfo=UTC),
                created_at=NOW,
                items=[
                    SubscriptionItem(
                        item_code="business",
                        kind=ItemKind.PLAN,
                        quantity=10,
                        unit_price=Decimal("25.00"),
                    )
                ],
            )
        )
        session.add(
            Order(
                id="ORD-77",
                customer_id="CUS-1",
                status=OrderStatus.EXCEPTION,
                payload={"order_id": "ORD-77"},
                problems={
                    "problems": [
                        {
                            "field": "billing_address.postal_code",
                            "rule": "postal_code_format",
                            "message": "'1000' is not a US ZIP code",
                            "severity": "error",
                        },
                        {
                            "field": "po.expires_on",
                            "rule": "po_expiring",
                            "message": "the PO expires in 5 days",
                            "severity": "warning",
                        },
                    ],
                    "price_exceptions": [],
                },
                received_at=NOW,
                updated_at=NOW,
            )
        )
    return sqlite_sessions


@pytest.fixture
async def bot(
    start_bot: Callable[..., Awaitable[BotUnderTest]],
    book: sessionmaker[Session],
    time_skipping_env: WorkflowEnvironment,
) -> BotUnderTest:
    """The bot on the book, with a Temporal server where no workflow runs yet."""
    client = time_skipping_env.client

    async def temporal() -> Client:
        return client

    return await start_bot(book, temporal=temporal)


async def test_help_is_answered_in_the_ack_only_to_the_caller(bot: BotUnderTest) -> None:
    status, ack, _ = await bot.command("help")
    assert status == 200
    answer = json.loads(ack)
    assert answer["response_type"] == "ephemeral"
    assert answer["blocks"][0] == {
        "type": "header",
        "text": {"type": "plain_text", "text": "/billing"},
    }
    listed = answer["blocks"][1]["text"]["text"]
    for subcommand in (
        "customer",
        "invoices",
        "preview",
        "aging",
        "promise",
        "dunning",
        "dispute",
        "order",
        "note",
        "approvals",
    ):
        assert f"`{subcommand}" in listed
    # Bolt asks auth.test who the bot is, once; the answer itself needed no Web API call.
    assert [call.method for call in bot.slack.calls] == ["auth.test"]


async def test_no_command_starts_a_lazy_listener(
    bot: BotUnderTest, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Bolt deep-copies the request for each lazy listener it starts, on the ack's path: help,
    usage lines and refusals are answered in the ack, and the work after the ack runs in a
    task of the bot's own, so no command pays for one. Counted at Bolt's copy."""
    copies: list[object] = []

    def counted(request: object) -> object:
        copies.append(request)
        return real_copy(request)

    real_copy = create_copy
    monkeypatch.setattr(asyncio_runner, "create_copy", counted)
    for text, user_id in (("help", ANALYST), ("refund CUS-1", ANALYST), ("note CUS-1 x", STRANGER)):
        status, ack, _ = await bot.command(text, user_id=user_id)
        assert status == 200 and json.loads(ack)["response_type"] == "ephemeral"
    assert copies == []
    answer = await bot.answer("customer CUS-1")  # the work after the ack: no lazy listener
    assert "CUS-1" in json.dumps(answer)
    assert copies == []


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("refund CUS-1", "`refund` is not a /billing subcommand.\nUsage: `/billing help`"),
        ("customer", "Expected a customer id.\nUsage: `/billing customer CUSTOMER-ID`"),
        (
            "invoices CUS-1 unpaid",
            "`unpaid` is not one of open, overdue, paid, all.\n"
            "Usage: `/billing invoices CUSTOMER-ID [open|overdue|paid|all]`",
        ),
        (
            "promise CUS-1 12x 2026-12-01",
            "amount: `12x` is not an amount like 1250.00.\n"
            "Usage: `/billing promise CUSTOMER-ID AMOUNT [CURRENCY] YYYY-MM-DD`",
        ),
    ],
)
async def test_mistakes_get_the_usage_line_privately(
    bot: BotUnderTest, text: str, expected: str
) -> None:
    status, ack, _ = await bot.command(text)
    assert status == 200
    assert json.loads(ack) == {"text": expected, "response_type": "ephemeral"}


async def test_customer_summary_goes_to_the_caller_with_amounts_in_their_currency(
    bot: BotUnderTest,
) -> None:
    answer = await bot.answer("customer CUS-1")
    assert answer["response_type"] == "ephemeral"
    assert answer["text"] == "Acme Analytics Inc (CUS-1): open $1,500.50, 1 overdue"
    blocks = answer["blocks"]
    assert isinstance(blocks, list)
    assert blocks[0]["text"]["text"] == "Acme Analytics Inc (CUS-1)"
    assert [f["text"] for f in blocks[1]["fields"]][:2] == [
        "*Open balance*\n$1,500.50",
        "*Overdue*\n$1,200.00 (1 inv.)",
    ]
    assert blocks[-1] == {
        "type": "section",
        "text": {"type": "mrkdwn", "text": "*Overdue*\n`INV-000001` $1,200.00 · 43 days late"},
    }


async def test_an_unknown_customer_is_named_in_a_private_answer(bot: BotUnderTest) -> None:
    answer = await bot.answer("customer CUS-404")
    assert answer == {
        "text": ":warning: customer 'CUS-404' not found",
        "response_type": "ephemeral",
    }


async def test_invoices_and_aging_read_well_on_a_phone(bot: BotUnderTest) -> None:
    overdue = await bot.answer("invoices CUS-1 overdue")
    assert overdue["text"] == "Overdue invoices of CUS-1: 1"
    blocks = overdue["blocks"]
    assert isinstance(blocks, list)
    assert blocks[1]["text"]["text"] == (
        "`INV-000001` $1,200.00 · due 2026-09-20 · *43 days late*\nbalance $1,200.00 · open"
    )

    aging = await bot.answer("aging")
    blocks = aging["blocks"]
    assert isinstance(blocks, list)
    assert blocks[0]["text"]["text"] == "AR aging, all customers, as of 2026-11-02"
    eur, usd = (
        {f["text"].split("\n")[0]: f["text"].split("\n")[1] for f in b["fields"]}
        for b in blocks[1:]
    )
    assert usd == {
        "*current*": "$300.50",
        "*1-30*": "$0.00",
        "*31-60*": "$1,200.00",
        "*61-90*": "$0.00",
        "*90+*": "$0.00",
        "*Total USD*": "$1,500.50",
    }
    assert eur["*31-60*"] == "€99.99"


async def test_a_note_is_refused_to_someone_outside_the_matrix(
    bot: BotUnderTest, book: sessionmaker[Session]
) -> None:
    status, ack, _ = await bot.command("note CUS-1 called the CFO", user_id=STRANGER)
    assert status == 200
    assert json.loads(ack)["text"].startswith(
        ":no_entry: `/billing note` changes an account, and you are not in the approval matrix"
    )
    with book() as session:
        assert session.scalars(select(CustomerNote)).all() == []


async def test_a_note_is_added_and_shown_to_the_channel(
    bot: BotUnderTest, book: sessionmaker[Session]
) -> None:
    answer = await bot.answer("note CUS-1 CFO promised a PO by Friday <soon>", user_id=SALES)
    assert answer["response_type"] == "in_channel"
    assert answer["blocks"] == [
        {
            "type": "section",
            "text": {
                "type": "mrkdwn",
                "text": f":memo: Note on *CUS-1* by <@{SALES}>\n"
                ">CFO promised a PO by Friday &lt;soon&gt;",
            },
        }
    ]
    with book() as session:
        note = session.scalars(select(CustomerNote)).one()
        assert (note.author, note.body, note.created_at) == (
            "slack:sam",
            "CFO promised a PO by Friday <soon>",
            NOW,
        )


async def test_a_forged_signature_is_refused(bot: BotUnderTest) -> None:
    body = slack_requests.slash_command("customer CUS-1", ANALYST, bot.slack.response_url("x"))
    status, _ = await bot.post(body, slack_requests.FORM, secret="not-the-signing-secret")
    assert status == 401
    await _nothing_reached_slack(bot)


async def test_a_five_minute_old_signature_is_refused(bot: BotUnderTest) -> None:
    body = slack_requests.slash_command("customer CUS-1", ANALYST, bot.slack.response_url("x"))
    status, _ = await bot.post(body, slack_requests.FORM, age_seconds=5 * 60 + 1)
    assert status == 401
    fresh_enough, _ = await bot.post(body, slack_requests.FORM, age_seconds=4 * 60)
    assert fresh_enough == 200


async def test_an_unsigned_request_is_refused(bot: BotUnderTest) -> None:
    body = slack_requests.slash_command("customer CUS-1", ANALYST, bot.slack.response_url("x"))
    async with bot.http.post(
        bot.url, data=body, headers={"content-type": slack_requests.FORM}
    ) as response:
        assert response.status == 401
    await _nothing_reached_slack(bot)


async def _nothing_reached_slack(bot: BotUnderTest) -> None:
    """The refused request started no work: once a later command has been answered,
    nothing has arrived at the refused one's response URL."""
    await bot.answer("aging CUS-2")
    assert bot.slack.calls_to("response_url:x") == []


async def test_preview_shows_the_engines_lines_for_a_seat_change(bot: BotUnderTest) -> None:
    answer = await bot.answer("preview SUB-1 seats 15")
    assert answer["response_type"] == "ephemeral"
    blocks = answer["blocks"]
    assert isinstance(blocks, list)
    # 5 seats x $25.00 x 29/30 of November = $120.83; New York sales tax 4% = $4.83.
    assert blocks == [
        {"type": "header", "text": {"type": "plain_text", "text": "Preview: SUB-1 to 15 seats"}},
        {
            "type": "section",
            "text": {
                "type": "mrkdwn",
                "text": "5 seats added to Business (monthly), 2 Nov 2026 – 1 Dec 2026 "
                "(29 of 30 days)\n*$120.83*",
            },
        },
        {
            "type": "section",
            "fields": [
                {"type": "mrkdwn", "text": "*Subtotal*\n$120.83"},
                {"type": "mrkdwn", "text": "*Sales tax 4%*\n$4.83"},
                {"type": "mrkdwn", "text": "*Total*\n$125.66"},
                {"type": "mrkdwn", "text": "*Amount due*\n$125.66"},
            ],
        },
        {
            "type": "context",
            "elements": [
                {
                    "type": "mrkdwn",
                    "text": "Due 2026-12-02 · daily proration · nothing was invoiced",
                }
            ],
        },
    ]
    same = await bot.answer("preview SUB-1 seats 10")
    assert same["text"] == ":warning: seats: SUB-1 already has 10 seats"


async def test_a_promise_to_pay_is_recorded_and_told_to_the_channel(
    bot: BotUnderTest, book: sessionmaker[Session]
) -> None:
    answer = await bot.answer("promise CUS-1 1,200.00 2026-11-20", user_id=ANALYST)
    assert answer["response_type"] == "in_channel"
    assert answer["blocks"] == [
        {
            "type": "section",
            "text": {
                "type": "mrkdwn",
                "text": f":handshake: <@{ANALYST}> recorded a promise to pay for *CUS-1*: "
                "*$1,200.00* by 2026-11-20 (grace 3 days). Dunning waits until then.",
            },
        }
    ]
    with book() as session:
        promise = session.scalars(select(PromiseToPay)).one()
        assert (promise.amount, promise.currency, promise.promised_date, promise.recorded_by) == (
            Decimal("1200.00"),
            "USD",
            date(2026, 11, 20),
            "slack:ana",
        )
    again = await bot.answer("promise CUS-1 500 USD 2026-11-25", user_id=ANALYST)
    assert str(again["text"]).startswith(":warning: customer CUS-1 already has an open promise")
    refused = await bot.command("promise CUS-1 500 2026-11-25", user_id=SALES)
    assert json.loads(refused[1])["text"] == (
        ":no_entry: `/billing promise` needs one of the roles analyst, billing_manager, "
        "controller; you hold sales."
    )


async def test_a_dispute_starts_its_workflow_and_is_told_to_the_channel(
    bot: BotUnderTest, time_skipping_env: WorkflowEnvironment
) -> None:
    answer = await bot.answer("dispute CUS-1 INV-000001 We were billed twice for 10 seats")
    assert answer["response_type"] == "in_channel"
    assert answer["text"] == "Dispute DSP-000001 opened for CUS-1"
    handle = time_skipping_env.client.get_workflow_handle("dispute-DSP-000001")
    started = await handle.describe()
    assert started.workflow_type == "Dispute"
    history = await handle.fetch_history()
    (payload,) = history.events[0].workflow_execution_started_event_attributes.input.payloads
    intake = json.loads(payload.data)
    assert intake == {
        "dispute_id": "DSP-000001",
        "customer_id": "CUS-1",
        "invoices": ["INV-000001"],
        "claim": "We were billed twice for 10 seats",
        "opened_by": "slack:ana",
        "triage": None,
    }
    await handle.terminate("test over")

    wrong = await bot.answer("dispute CUS-2 INV-000001 not ours")
    assert wrong["text"] == ":warning: invoices: INV-000001 is not an invoice of CUS-2"


async def test_a_replayed_dispute_command_opens_one_dispute(
    bot: BotUnderTest, time_skipping_env: WorkflowEnvironment, book: sessionmaker[Session]
) -> None:
    """The same signed request again (Slack's trigger id is its identity): the same dispute
    number, one workflow, nothing numbered twice."""
    body = slack_requests.slash_command(
        "dispute CUS-1 INV-000001 billed twice", ANALYST, bot.slack.response_url("d")
    )
    for count in (1, 2, 3):
        assert await bot.post(body, slack_requests.FORM) == (200, "")
        await bot.slack.wait_for("response_url:d", count=count)
    answers = [c.args["text"] for c in bot.slack.calls_to("response_url:d")]
    assert answers == ["Dispute DSP-000001 opened for CUS-1"] * 3
    handle = time_skipping_env.client.get_workflow_handle("dispute-DSP-000001")
    assert (await handle.describe()).workflow_type == "Dispute"
    await handle.terminate("test over")
    next_one = await bot.answer("dispute CUS-1 INV-000001 billed twice")  # a new command
    assert next_one["text"] == "Dispute DSP-000002 opened for CUS-1"
    await time_skipping_env.client.get_workflow_handle("dispute-DSP-000002").terminate("over")


async def test_an_order_shows_its_status_and_what_stops_it(bot: BotUnderTest) -> None:
    answer = await bot.answer("order ORD-77")
    assert answer["text"] == "Order ORD-77: exception"
    blocks = answer["blocks"]
    assert isinstance(blocks, list)
    assert blocks[-1] == {
        "type": "section",
        "text": {
            "type": "mrkdwn",
            "text": "*Problems*\n• `billing_address.postal_code`: '1000' is not a US ZIP code\n"
            "• `po.expires_on`: the PO expires in 5 days _(warning)_",
        },
    }
    missing = await bot.answer("order ORD-404")
    assert missing["text"] == ":warning: order 'ORD-404' not found"
