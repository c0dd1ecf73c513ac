"""The Slack notifier of the approval step, turn by turn: asked, retried, escalated, decided.

Called the way the step's ``approvals.notify`` activity calls it, with the
request row in the ledger changed by the approval store in between; every
message goes through ``slack_sdk`` to the fake Slack.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from decimal import Decimal

import pytest
from pydantic import SecretStr
from slack_sdk import WebClient
from sqlalchemy.orm import Session, sessionmaker

from activities.approvals import store
from activities.approvals.matrix import ApprovalMatrix
from activities.approvals.notifier import ApprovalMessage, LogNotifier, NoticeKind
from activities.ledger.db import transaction
from activities.ledger.models import ApprovalRequest, ApprovalStatus
from activities.settings import Settings
from bot.approvals import SlackApprovalNotifier, approval_notifier
from tests.bot.conftest import CONTROLLER, MANAGER, NOW
from tests.bot.fake_slack import BOT_TOKEN, FakeSlack
from tests.ledger import factories

REQUEST = "APR-NOTIFY0001"


@pytest.fixture
def ledger(sqlite_sessions: sessionmaker[Session]) -> sessionmaker[Session]:
    with transaction(sqlite_sessions) as session:
        factories.customer(session, "CUS-1")
        store.open_request(
            session,
            store.NewRequest(
                request_id=REQUEST,
                workflow_id="collections-CUS-1",
                action="write_off",
                summary="Write off INV-000001: customer dissolved",
                requested_by="workflow:collections-CUS-1",
                required_role="billing_manager",
                customer_id="CUS-1",
                amount=Decimal("800.00"),
                currency="USD",
                requested_at=NOW,
                due_at=NOW + timedelta(days=2),
            ),
        )
    return sqlite_sessions


def notice(kind: NoticeKind) -> ApprovalMessage:
    """The step's message; the notifier reads everything else from the row."""
    return ApprovalMessage(
        request_id=REQUEST,
        kind=kind,
        action="write_off",
        summary="",
        amount="",
        customer_id="CUS-1",
        requested_by="workflow:collections-CUS-1",
        role="",
        recipients=(),
        due_at=None,
    )


def test_one_message_per_request_edited_as_it_goes(
    ledger: sessionmaker[Session], matrix: ApprovalMatrix, slack: FakeSlack
) -> None:
    notifier = SlackApprovalNotifier(
        WebClient(token=BOT_TOKEN, base_url=slack.api_url), ledger, matrix, "C0APPROVALS"
    )
    notifier.post(notice("requested"))
    (posted,) = slack.calls_to("chat.postMessage")
    assert posted.args["channel"] == "C0APPROVALS"
    assert posted.args["blocks"][2]["fields"][:2] == [
        {"type": "mrkdwn", "text": "*Requested by*\nworkflow `collections-CUS-1`"},
        {"type": "mrkdwn", "text": f"*Needs*\nbilling manager: <@{MANAGER}>"},
    ]
    with ledger() as session:
        row = session.get(ApprovalRequest, REQUEST)
        assert row is not None and row.slack_channel == "C0APPROVALS"
        ts = row.slack_ts

    notifier.post(notice("requested"))  # a retried activity: the message is edited, not doubled
    assert len(slack.calls_to("chat.postMessage")) == 1
    assert slack.calls_to("chat.update")[-1].args["ts"] == ts

    with transaction(ledger) as session:
        store.pass_sla(session, REQUEST, role="controller", due_at=NOW + timedelta(days=5), at=NOW)
    notifier.post(notice("escalated"))
    update = slack.calls_to("chat.update")[-1]
    assert update.args["blocks"][2]["fields"][1]["text"] == (
        f"*Needs*\ncontroller: <@{CONTROLLER}>"
    )
    reply = slack.calls_to("chat.postMessage")[-1]
    assert (reply.args["channel"], reply.args["thread_ts"]) == ("C0APPROVALS", ts)
    assert reply.args["text"] == (
        f":arrow_up: Escalated to controller: <@{CONTROLLER}>, please decide by "
        "<!date^1794063600^{date_short_pretty} {time}|2026-11-07 15:00 UTC>."
    )

    with transaction(ledger) as session:
        store.close_request(
            session,
            REQUEST,
            status=ApprovalStatus.APPROVED,
            decided_by="cli:chen",
            reason="Liquidator's letter on file",
            at=NOW + timedelta(days=1),
        )
    notifier.post(notice("decided"))  # decided from the command line: Slack shows it too
    decided = slack.calls_to("chat.update")[-1]
    assert decided.args["ts"] == ts
    assert decided.args["text"] == "Approved: write off $800.00 for CUS-1"
    assert decided.args["blocks"][-1]["text"]["text"] == (
        f":white_check_mark: *Approved* by <@{CONTROLLER}> · "
        "<!date^1793718000^{date_short_pretty} {time}|2026-11-03 15:00 UTC>"
        "\n>Liquidator's letter on file"
    )


def test_the_worker_gets_slack_only_when_a_bot_token_is_set(
    ledger: sessionmaker[Session], matrix: ApprovalMatrix, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SLACK_BOT_TOKEN", raising=False)
    without = Settings(_env_file=None)
    assert isinstance(approval_notifier(without, ledger, matrix), LogNotifier)
    with_token = Settings(slack_bot_token=SecretStr(BOT_TOKEN), _env_file=None)
    assert isinstance(approval_notifier(with_token, ledger, matrix), SlackApprovalNotifier)


def test_a_request_with_a_drafted_email_posts_that_email_escaped(
    ledger: sessionmaker[Session], matrix: ApprovalMatrix, slack: FakeSlack
) -> None:
    """The suspension's approver reads the email it sends, through the real client: the
    customer's name in it is text (no channel ping, no hidden link), and no 'no amount'."""
    preview = (
        "To: ap@example.com\nSubject: Service suspended for \u201c<!channel> "
        "<https://evil.example|Pay here> Ltd\u201d: $261.00 past due\n\nHello,\n"
    )
    with transaction(ledger) as session:
        store.open_request(
            session,
            store.NewRequest(
                request_id="APR-PREVIEW001",
                workflow_id="collections-CUS-1",
                action="suspension",
                summary="collections suspension: owes 609.00 USD, of it 261.00 USD past due",
                requested_by="workflow:collections-CUS-1",
                required_role="billing_manager",
                customer_id="CUS-1",
                amount=None,
                currency=None,
                requested_at=NOW,
                due_at=NOW + timedelta(days=1),
                preview=preview,
            ),
        )
    notifier = SlackApprovalNotifier(
        WebClient(token=BOT_TOKEN, base_url=slack.api_url), ledger, matrix, "C0APPROVALS"
    )
    notifier.post(replace(notice("requested"), request_id="APR-PREVIEW001"))
    (posted,) = slack.calls_to("chat.postMessage")
    assert posted.args["text"] == "Approval needed: suspension for CUS-1"
    texts = [b["text"]["text"] for b in posted.args["blocks"] if "text" in b]
    shown = "\n".join(texts)
    assert "<!channel>" not in shown and "<https://evil" not in shown
    assert "*On approval, exactly this is sent:*\n>To: ap@example.com\n>Subject: Service " in shown
    assert "&lt;!channel&gt; &lt;https://evil.example|Pay here&gt;" in shown
    assert "no amount" not in shown
