"""Record the ticket workflow's histories for the replay test (tests/histories/ticket_*.json).

Run after a deliberate change to the workflow, and commit the new files:

    .venv/bin/python -m tests.zendesk.record_histories

Three tickets on a time-skipping server, against a throwaway SQLite ledger and
the fake Zendesk: a low-risk question answered on its own by policy; a refund
request that waits past a review reminder and goes out as an edited reply; a
dispute that opens its dispute workflow and goes out as an internal note; a
receipt request whose requester writes again, disputing an invoice, while
the draft waits for review (``tickets.changed``): drafted anew as a dispute.
(The disputes come last: its collections nudge would start a cadence that the
time skipped for the reminder would otherwise run.)
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import tempfile
from datetime import timedelta
from pathlib import Path

from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from activities.approvals.matrix import load_matrix
from activities.ledger.db import make_engine, migrate, session_factory
from activities.paths import REPO_ROOT
from activities.temporal_runtime import binary_path
from activities.zendesk.messages import ReplyDecision
from activities.zendesk.policy import load_policy
from tests.zendesk.conftest import ACME_CONTACT, billing_queue, seed_book
from tests.zendesk.fake_zendesk import FakeZendesk, serving

HISTORIES = Path(__file__).resolve().parents[1] / "histories"


async def record(folder: Path) -> None:
    engine = make_engine(f"sqlite:///{folder / 'ledger.sqlite'}")
    migrate(engine)
    sessions = session_factory(engine)
    seed_book(sessions)
    policy = load_policy(REPO_ROOT / "config" / "zendesk.yaml")
    policy = policy.model_copy(update={"auto_send": ("payment_status",)})
    env = await WorkflowEnvironment.start_time_skipping(
        data_converter=pydantic_data_converter,
        test_server_existing_path=binary_path("temporal-test-server"),
    )
    try:
        with serving(FakeZendesk()) as zendesk:
            os.environ["ZENPY_FORCE_NETLOC"] = zendesk.netloc
            os.environ["ZENPY_FORCE_SCHEME"] = "http"
            zendesk.add_ticket(1, subject="Balance", body="What do we owe?", requester=ACME_CONTACT)
            zendesk.add_ticket(
                2,
                subject="Refund",
                body="Please refund the duplicate charge.",
                requester=ACME_CONTACT,
            )
            zendesk.add_ticket(
                3,
                subject="Overcharged",
                body="We were overcharged on INV-000001: it should be 8 seats.",
                requester=ACME_CONTACT,
            )
            matrix = load_matrix(REPO_ROOT / "config")
            async with billing_queue(env, sessions, zendesk, policy, matrix, folder) as queue:
                for ticket in (1, 2):
                    await queue.webhook(json.dumps({"ticket_id": ticket}).encode())
                await queue.handle(1).result()
                await queue.state(2, "awaiting_review")
                await env.sleep(timedelta(hours=policy.review_reminder_hours + 1))
                edited = "We will look into the duplicate charge and reply within 2 days."
                await queue.decide(2, ReplyDecision(action="send", by="cli:ana", body=edited))
                await queue.handle(2).result()
                await queue.webhook(json.dumps({"ticket_id": 3}).encode())
                await queue.state(3, "awaiting_review")
                await queue.decide(3, ReplyDecision(action="internal_note", by="slack:U0BILLMGR1"))
                await queue.handle(3).result()
                zendesk.add_ticket(
                    4, subject="Receipt", body="Please send the receipt.", requester=ACME_CONTACT
                )
                await queue.webhook(json.dumps({"ticket_id": 4}).encode())
                await queue.state(4, "awaiting_review")
                zendesk.requester_writes(4, "We dispute INV-000003: we were charged twice.")
                await queue.webhook(json.dumps({"ticket_id": 4}).encode())
                await queue.state(4, "awaiting_review", category="dispute")
                await queue.decide(4, ReplyDecision(action="send", by="slack:U0BILLMGR1"))
                await queue.handle(4).result()
                recorded = ((1, "auto_sent"), (2, "reminded_edited"), (3, "dispute_note"))
                for ticket, name in (*recorded, (4, "rewritten_during_review")):
                    history = await queue.handle(ticket).fetch_history()
                    path = HISTORIES / f"ticket_{name}.json"
                    path.write_text(history.to_json())
                    print(f"recorded {path}")
    finally:
        await env.shutdown()
        engine.dispose()


def main() -> int:
    HISTORIES.mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory() as folder:
        asyncio.run(record(Path(folder)))
    return 0


if __name__ == "__main__":
    status = main()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(status)  # temporalio's bridge can abort at exit (DESIGN.md, known pitfalls)
