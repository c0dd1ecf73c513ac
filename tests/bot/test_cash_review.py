"""Cash review in Slack: the statement message's blocks, and its buttons clicked on the real
Bolt app over HTTP (signed block_actions), deciding in the real ledger."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import date
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from temporalio.client import Client

from activities.cash.policy import CashPolicy
from activities.cash.statements import StatementLine
from activities.cash.store import import_lines, load_book, match_lines
from activities.ledger.db import transaction
from activities.ledger.models import BankStatementLine, Invoice, StatementLineStatus
from bot.blocks.cash import APPLY, LEAVE, statement_batch
from bot.cash_review import review_line
from tests.bot import slack_requests
from tests.bot.conftest import ANALYST, ANALYST_2, STRANGER, BotUnderTest
from tests.conftest import NOW
from tests.ledger import factories

CHANNEL = "C0APPROVALS"


async def _no_temporal() -> Client:
    raise RuntimeError("Temporal is not running in this test")


def _ledger(sessions: sessionmaker[Session]) -> list[int]:
    with transaction(sessions) as session:
        factories.customer(session, "CUS-1", legal_name="Northwind Analytics Inc.")
        factories.open_invoice(session, "CUS-1", "100.00", date(2026, 10, 30))
        factories.open_invoice(session, "CUS-1", "100.00", date(2026, 11, 30))
        lines = [
            StatementLine(
                "B-1",
                "S",
                "ours",
                date(2026, 11, 2),
                Decimal("100.00"),
                "USD",
                "Northwind <!channel> *Analytics*",
                "",
                "see <http://x|here>",
            ),
            StatementLine(
                "B-2", "S", "ours", date(2026, 11, 2), Decimal("9.99"), "USD", "", "", ""
            ),
        ]
        ids = import_lines(session, lines, NOW)
        summary = match_lines(session, ids, load_book(session), CashPolicy(), NOW, "system:t")
    assert summary.for_review == ids
    return ids


def test_the_statement_message_escapes_the_payers_words_and_offers_the_candidates(
    sqlite_sessions: sessionmaker[Session],
) -> None:
    ids = _ledger(sqlite_sessions)
    with sqlite_sessions() as session:
        lines = [review_line(r) for r in session.scalars(select(BankStatementLine))]
    blocks = statement_batch("camt.xml", 0, lines)
    text = str(blocks)
    assert "<!channel>" not in text and "&lt;!channel&gt;" in text
    assert "<http://x|here>" not in text
    actions = [b for b in blocks if b["type"] == "actions"]
    first = [(e["action_id"], e["value"]) for e in actions[0]["elements"]]
    assert (APPLY, f"{ids[0]}:0") in first and (LEAVE, str(ids[0])) == first[-1]
    assert [e["action_id"] for e in actions[1]["elements"]] == [LEAVE]  # nobody to propose


async def test_a_click_applies_once_and_strangers_change_nothing(
    sqlite_sessions: sessionmaker[Session],
    start_bot: Callable[..., Awaitable[BotUnderTest]],
) -> None:
    ids = _ledger(sqlite_sessions)
    bot = await start_bot(sqlite_sessions, _no_temporal)

    async def click(action: str, value: str, who: str) -> None:
        body = slack_requests.button_click(
            action, value, who, CHANNEL, "1700000000.000100", bot.slack.response_url("click")
        )
        status, _ = await bot.post(body, slack_requests.FORM)
        assert status == 200

    await click(APPLY, f"{ids[0]}:0", STRANGER)
    (refusal,) = await bot.slack.wait_for("chat.postEphemeral")
    assert "approval matrix" in str(refusal.args["text"])
    await click(APPLY, f"{ids[0]}:0", ANALYST)
    (done,) = await bot.slack.wait_for("chat.postMessage")
    assert f"line {ids[0]} applied to CUS-1" in str(done.args["text"])
    await click(APPLY, f"{ids[0]}:0", ANALYST_2)
    await bot.slack.wait_for("chat.postEphemeral", count=2)
    assert "already applied" in str(bot.slack.calls_to("chat.postEphemeral")[1].args["text"])
    await click(LEAVE, str(ids[1]), ANALYST_2)
    await bot.slack.wait_for("chat.postMessage", count=2)
    with sqlite_sessions() as session:
        statuses = [r.status for r in session.scalars(select(BankStatementLine))]
        balances = [i.balance for i in session.scalars(select(Invoice).order_by(Invoice.id))]
    assert statuses == [StatementLineStatus.APPLIED, StatementLineStatus.UNAPPLIED]
    assert sum(balances) == Decimal("100.00")
