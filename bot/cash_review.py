"""Cash review in Slack: the statement message's buttons apply a candidate or leave a line
unapplied, for people in the approval matrix. The decision is the same ledger call as
``billing-ops cash review`` (one decision per line wins; a second click is told so)."""

from __future__ import annotations

import contextlib
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp
from slack_sdk.web.async_client import AsyncWebClient
from sqlalchemy.orm import Session
from temporalio.service import RPCError

from activities.cash import wake
from activities.cash.policy import load_policy
from activities.cash.store import Applied, apply_line, get_line, set_aside
from activities.ledger.errors import LedgerError
from activities.ledger.models import BankStatementLine, StatementLineStatus
from activities.paths import CONFIG_DIR
from activities.slack_text import escape
from activities.temporal_runtime import TemporalUnavailable
from bot import roles
from bot.blocks.cash import APPLY, LEAVE, Candidate, ReviewLine
from bot.blocks.kit import user
from bot.services import Services


def review_line(row: BankStatementLine) -> ReviewLine:
    proposals = (row.proposals or {}).get("proposals", [])
    return ReviewLine(
        row.id,
        row.amount,
        row.currency,
        row.payer_name,
        row.remittance,
        tuple(
            Candidate(
                i,
                p["customer_id"],
                tuple(a["invoice"] for a in p["allocations"]),
                float(p["confidence"]),
            )
            for i, p in enumerate(proposals)
        ),
    )


def register(app: AsyncApp, services: Services) -> None:
    async def ack_click(ack: AsyncAck) -> None:
        await ack()

    async def decide(body: dict[str, Any], client: AsyncWebClient) -> None:
        user_id = body["user"]["id"]
        channel = body["container"]["channel_id"]
        thread = body["container"]["message_ts"]
        action = body["actions"][0]
        if services.person(user_id) is None:
            await client.chat_postEphemeral(
                channel=channel,
                user=user_id,
                text="Only people in the approval matrix decide cash; nothing changed.",
            )
            return
        actor = roles.actor(services.matrix, user_id)
        try:
            if action["action_id"] == APPLY:
                line_id, index = (int(part) for part in action["value"].split(":"))

                def work(session: Session) -> Applied:
                    row = get_line(session, line_id)
                    proposals = (row.proposals or {}).get("proposals", [])
                    if not 0 <= index < len(proposals):
                        raise LedgerError(f"line {line_id}: that candidate no longer exists")
                    chosen = proposals[index]
                    return apply_line(
                        session,
                        line_id,
                        chosen["customer_id"],
                        [a["invoice"] for a in chosen["allocations"]],
                        load_policy(CONFIG_DIR / "cash.yaml"),
                        actor,
                        services.now(),
                        reason="chosen in Slack",
                    )

                applied = await services.ledger(work)
                done = (
                    f"line {line_id} applied to {applied.customer_id} by {user(user_id)}: "
                    + ", ".join(p.processor_id for p in applied.payments)
                )
                await _wake(services, wake.for_applied(applied))
            else:
                line_id = int(action["value"])
                await services.ledger(
                    lambda s: set_aside(
                        s,
                        line_id,
                        StatementLineStatus.UNAPPLIED,
                        actor,
                        services.now(),
                        "left unapplied in Slack",
                    )
                )
                done = f"line {line_id} left unapplied by {user(user_id)}"
        except (LedgerError, ValueError) as refused:
            await client.chat_postEphemeral(
                channel=channel, user=user_id, text=f"Nothing changed: {escape(str(refused))}"
            )
            return
        await client.chat_postMessage(channel=channel, thread_ts=thread, text=done)

    app.action(APPLY)(ack=ack_click, lazy=[decide])
    app.action(LEAVE)(ack=ack_click, lazy=[decide])


async def _wake(services: Services, wakes: list[wake.Wake]) -> None:
    if not wakes:
        return
    # without Temporal the ledger still has the cash; the cadence sees it when it next reads
    with contextlib.suppress(RPCError, RuntimeError, TemporalUnavailable):
        await wake.wake(await services.temporal(), wakes, services.task_queue)
