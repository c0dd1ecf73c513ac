"""The App Home tab, published over the fake Slack when someone opens it."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy.orm import Session, sessionmaker

from activities.ledger.models import (
    ApprovalRequest,
    ApprovalStatus,
    PromiseStatus,
    PromiseToPay,
)
from tests.bot import slack_requests
from tests.bot.conftest import ANALYST, MANAGER, NOW, BotUnderTest
from tests.ledger import factories


@pytest.fixture
def book(sqlite_sessions: sessionmaker[Session]) -> sessionmaker[Session]:
    """CUS-1 is 43 days late (past the self-serve cadence's suspension step), CUS-2 as late
    but promised to pay today, CUS-3 a week late; a credit note waits for a billing manager."""
    today = NOW.date()
    with sqlite_sessions.begin() as session:
        factories.customer(session, "CUS-1", legal_name="Acme Analytics Inc")
        factories.customer(session, "CUS-2", legal_name="Bolt GmbH", currency="EUR")
        factories.customer(session, "CUS-3", legal_name="Cobalt Ltd")
        factories.open_invoice(session, "CUS-1", "1200.00", today - timedelta(days=43))
        factories.open_invoice(session, "CUS-2", "800.00", today - timedelta(days=40), "EUR")
        factories.open_invoice(session, "CUS-3", "90.00", today - timedelta(days=7))
        session.add(
            PromiseToPay(
                customer_id="CUS-2",
                currency="EUR",
                amount=Decimal("800.00"),
                promised_date=today,
                grace_days=3,
                status=PromiseStatus.OPEN,
                recorded_by="slack:U0ANALYST2",
                recorded_at=NOW - timedelta(days=5),
            )
        )
        session.add(
            ApprovalRequest(
                id="APR-HOME00001",
                workflow_id="dispute-DSP-000007",
                action="credit_note",
                customer_id="CUS-1",
                currency="USD",
                amount=Decimal("1200.00"),
                summary="Credit INV-000001 in full: seats billed twice",
                requested_by=f"slack:{ANALYST}",
                required_role="billing_manager",
                status=ApprovalStatus.PENDING,
                requested_at=NOW - timedelta(hours=3),
                due_at=NOW + timedelta(days=1),
                slack_channel="C0APPROVALS",
                slack_ts="1790000001.000100",
            )
        )
    return sqlite_sessions


async def open_home(bot: BotUnderTest, user_id: str) -> list[dict[str, object]]:
    status, _ = await bot.post(slack_requests.app_home_opened(user_id), slack_requests.JSON)
    assert status == 200
    (published,) = await bot.slack.wait_for("views.publish")
    assert published.args["user_id"] == user_id
    view = published.args["view"]
    assert view["type"] == "home"
    return list(view["blocks"])


def texts(blocks: list[dict[str, object]]) -> list[str]:
    return [str(block["text"]["text"]) for block in blocks if "text" in block]  # type: ignore[index]


async def test_the_home_tab_shows_my_approvals_escalations_and_promises_due_today(
    start_bot: Callable[..., Awaitable[BotUnderTest]], book: sessionmaker[Session]
) -> None:
    bot = await start_bot(book)
    blocks = await open_home(bot, MANAGER)
    due = int((NOW + timedelta(days=1)).timestamp())
    assert texts(blocks) == [
        "Billing ops",
        "*Approvals waiting for you (1)*",
        f"*credit note* $1,200.00 · CUS-1 · due <!date^{due}^{{date_short_pretty}} {{time}}|"
        "2026-11-03 15:00 UTC>\nCredit INV-000001 in full: seats billed twice (`APR-HOME00001`)"
        " · in <#C0APPROVALS>",
        # CUS-2 is as late, but its promise to pay holds the cadence; CUS-3 is at the emails.
        "*Accounts in escalation (1)*",
        "*Acme Analytics Inc* (`CUS-1`) · suspension\noverdue $1,200.00",
        "*Promises to pay due today (1)*",
        "*Bolt GmbH* (`CUS-2`) · €800.00\nrecorded by slack:U0ANALYST2",
    ]
    assert blocks[1] == {
        "type": "context",
        "elements": [
            {
                "type": "mrkdwn",
                "text": "As of Monday 02 November 2026. Type `/billing help` for commands.",
            }
        ],
    }


async def test_someone_else_sees_no_approvals_of_theirs(
    start_bot: Callable[..., Awaitable[BotUnderTest]], book: sessionmaker[Session]
) -> None:
    bot = await start_bot(book)
    blocks = await open_home(bot, ANALYST)  # the requester: may not decide their own request
    assert texts(blocks)[1:3] == [
        "*Approvals waiting for you (0)*",
        "Nothing waits for your decision.",
    ]
