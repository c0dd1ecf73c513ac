"""The bill run's activities, and the one activity every subscription change goes through.

Each takes one pydantic input whose ``now`` comes from the workflow's clock. Invoicing
a batch commits it in one transaction (recurring/batch.py); a data problem with one
subscription is recorded as skipped (with its reason) and the batch goes on; only
transient faults (the database unreachable, a lock timeout) fail the batch, which
Temporal retries. Delivery sends each invoice once
(outbox key per invoice) and tells the customer's collections cadence about it.
"""

from __future__ import annotations

import logging
from dataclasses import asdict
from datetime import datetime
from typing import Any, Protocol

from pydantic import BaseModel, ConfigDict
from sqlalchemy.orm import Session, sessionmaker
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.billing.money import format_money
from activities.billing.pricebook import load_pricebook
from activities.billing.seller import load_seller
from activities.billing.tax import load_tax_table
from activities.close.slack import slack_client
from activities.collections.client import start_or_nudge
from activities.drafting.compose import Drafter
from activities.invoice_email import InvoiceEmail, send_invoice_email
from activities.ledger.db import transaction
from activities.ledger.models import IdempotencyKey
from activities.outbox import Outbox
from activities.recurring.batch import bill_batch
from activities.recurring.bill_run import (
    DATA_ERRORS,
    Billing,
    bill_subscription,
    due_subscriptions,
    issued_in_run,
    record_skip,
    run_summary,
)
from activities.recurring.changes import ChangeOutcome, ChangeRequest, change_subscription
from activities.recurring.model import (
    BatchRequest,
    BatchResult,
    BillRunReport,
    DeliverRequest,
    DueBatch,
    DueRequest,
    IssuedInvoice,
    Skipped,
    SummaryRequest,
)
from activities.recurring.policy import load_policy
from activities.settings import Settings

log = logging.getLogger("billing_ops.bill_run")

SLACK_ACTION = "bill_run.slack_post"


class ChangeMessage(BaseModel):
    """How a change held for approval was decided, for the message that previewed it."""

    model_config = ConfigDict(frozen=True)

    channel: str
    ts: str
    subscription_id: str
    summary: str
    outcome: str  # approved, rejected, withdrawn, failed (approved, but the ledger refused)
    decided_by: str
    reason: str
    applied: ChangeOutcome | None = None


class ChangeNotifier(Protocol):
    """Shows a decided change where it was confirmed (bot/subscription_changes.py: Slack)."""

    def decided(self, message: ChangeMessage) -> None: ...


class LogChangeNotifier:
    """Without Slack: a log line the worker prints."""

    def decided(self, message: ChangeMessage) -> None:
        log.info(
            "subscription change %s (%s) %s by %s: %s",
            message.subscription_id,
            message.summary,
            message.outcome,
            message.decided_by,
            message.reason,
        )


class ChangeIn(ChangeRequest):
    """A change as an activity input: the request, when, and whether to apply it."""

    now: datetime
    apply: bool = True


def _refuse(error: Exception) -> ApplicationError:
    return ApplicationError(str(error), type=type(error).__name__, non_retryable=True)


class RecurringActivities:
    """Bound to the ledger, the pricing inputs, the outbox and drafter, and Slack settings."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        billing: Billing,
        outbox: Outbox,
        drafter: Drafter,
        *,
        slack_token: str | None = None,
        slack_base_url: str | None = None,
        collections_queue: str | None = None,
        change_notifier: ChangeNotifier | None = None,
    ) -> None:
        self.sessions = sessions
        self.change_notifier = change_notifier or LogChangeNotifier()
        self.billing = billing
        self.outbox = outbox
        self.drafter = drafter
        self.slack_token = slack_token
        self.slack_base_url = slack_base_url
        self.collections_queue = collections_queue

    def all(self) -> list[Any]:
        return [
            self.change,
            self.change_decided,
            self.due,
            self.invoice_batch,
            self.deliver,
            self.hand_to_collections,
            self.finish,
        ]

    @activity.defn(name="subscriptions.change")
    def change(self, request: ChangeIn) -> ChangeOutcome:
        """Preview, or record and apply, one subscription change (see recurring/changes.py)."""
        try:
            with transaction(self.sessions) as session:
                return change_subscription(
                    session,
                    ChangeRequest.model_validate(request.model_dump(exclude={"now", "apply"})),
                    book=self.billing.book,
                    taxes=self.billing.taxes,
                    policy=self.billing.policy,
                    now=request.now,
                    apply=request.apply,
                )
        except DATA_ERRORS as error:
            raise _refuse(error) from None

    @activity.defn(name="subscriptions.change_decided")
    def change_decided(self, message: ChangeMessage) -> None:
        """Show how a change held for approval ended, in the message that previewed it."""
        self.change_notifier.decided(message)

    @activity.defn(name="bill_run.due")
    def due(self, request: DueRequest) -> DueBatch:
        """The next batch of subscriptions the run's date makes due. Reads only."""
        with self.sessions() as session:
            ids = due_subscriptions(
                session,
                request.run_date,
                after=request.after,
                limit=self.billing.policy.bill_run.batch_size,
            )
        return DueBatch(subscription_ids=ids)

    @activity.defn(name="bill_run.invoice_batch")
    def invoice_batch(self, request: BatchRequest) -> BatchResult:
        """Invoice the batch in one transaction (recurring/batch.py: priced one by one,
        stored with bulk inserts); a subscription with a data problem is recorded as
        skipped and the rest are stored.

        A data error only the database finds (a constraint) refuses the whole
        transaction: the batch is then billed one subscription at a time, which isolates
        the bad one. What was issued is read back from the run's records, not remembered
        here: an attempt killed after committing is retried, finds the subscriptions no
        longer due, and still hands their invoices on.
        """
        actor = f"workflow:{request.workflow_id}"
        try:
            with transaction(self.sessions) as session:
                batch = bill_batch(
                    session,
                    request.subscription_ids,
                    request.run_date,
                    self.billing,
                    load_seller(),
                    actor=actor,
                    now=request.now,
                )
            done: dict[str, Any] = {
                "skipped": [{"subscription_id": s, "reason": r} for s, r in batch.skipped],
                "nothing": sum(1 for o in batch.outcomes if o.outcome == "nothing"),
            }
        except DATA_ERRORS as error:
            log.warning("bill run %s: batch refused (%s), one by one", request.run_date, error)
            done = self._one_by_one(request, actor)
        with self.sessions() as session:
            issued = issued_in_run(session, request.run_date, request.subscription_ids)
        return BatchResult(
            issued=[IssuedInvoice(**asdict(invoice)) for invoice in issued],
            skipped=[Skipped.model_validate(s) for s in done["skipped"]],
            nothing=int(done["nothing"]),
        )

    def _one_by_one(self, request: BatchRequest, actor: str) -> dict[str, Any]:
        """Each subscription of the batch in its own transaction, a heartbeat after each (a
        retry carries on after the last one done)."""
        info = activity.info()
        done: dict[str, Any] = {"skipped": [], "nothing": 0, "index": 0}
        if info.heartbeat_details:
            done = dict(info.heartbeat_details[0])
        for index in range(int(done["index"]), len(request.subscription_ids)):
            subscription_id = request.subscription_ids[index]
            try:
                with transaction(self.sessions) as session:
                    outcomes = bill_subscription(
                        session,
                        subscription_id,
                        request.run_date,
                        self.billing,
                        actor=actor,
                        now=request.now,
                    )
            except DATA_ERRORS as error:
                reason = str(error)
                log.warning(
                    "bill run %s: %s skipped: %s", request.run_date, subscription_id, reason
                )
                with transaction(self.sessions) as session:
                    record_skip(session, subscription_id, request.run_date, reason, request.now)
                done["skipped"].append({"subscription_id": subscription_id, "reason": reason})
            else:
                done["nothing"] += sum(1 for o in outcomes if o.outcome == "nothing")
            done["index"] = index + 1
            activity.heartbeat(done)
        return done

    @activity.defn(name="bill_run.deliver")
    def deliver(self, request: DeliverRequest) -> int:
        """Email each invoice to the customer's billing contacts, once (outbox key per
        invoice); returns how many were sent now. A customer without a billing contact
        is logged and left (the invoice stands; the team sees it in the summary)."""
        sent = 0
        for issued in request.invoices:
            activity.heartbeat(issued.number)  # a killed worker's delivery resumes from here
            if issued.amount_due <= 0:
                continue
            key = f"bill-run:{issued.number}:email"
            email = send_invoice_email(
                self.sessions,
                self.outbox,
                self.drafter,
                InvoiceEmail(
                    kind="billing/invoice_issued",
                    key=key,
                    customer_id=issued.customer_id,
                    invoice_number=issued.number,
                    references={"subscription_id": issued.subscription_id},
                    actor=f"workflow:{request.workflow_id}",
                    action="bill_run.invoice_emailed",
                    now=request.now,
                ),
            )
            if email is None:
                log.warning("invoice %s: no billing contact, not emailed", issued.number)
            elif not email.delivery.already_sent:
                sent += 1
        return sent

    @activity.defn(name="bill_run.hand_to_collections")
    async def hand_to_collections(self, request: DeliverRequest) -> int:
        """Start or nudge each customer's collections cadence, once per customer."""
        client = activity.client()
        queue = self.collections_queue or activity.info().task_queue
        customers: dict[str, list[IssuedInvoice]] = {}
        for issued in request.invoices:
            if issued.amount_due > 0:
                customers.setdefault(issued.customer_id, []).append(issued)
        for customer_id, invoices in customers.items():
            activity.heartbeat(customer_id)
            reason = "; ".join(
                f"invoice {i.number} issued, {format_money(i.amount_due, i.currency)} due "
                f"{i.due_date.isoformat()}"
                for i in invoices
            )
            await start_or_nudge(client, customer_id, queue, f"bill run: {reason}")
        return len(customers)

    @activity.defn(name="bill_run.finish")
    def finish(self, request: SummaryRequest) -> BillRunReport:
        """The run's summary from the ledger's records, posted to Slack once when configured."""
        with self.sessions() as session:
            summary = run_summary(session, request.run_date)
        text = summary.text()
        if request.failures:
            text += "\n" + "\n".join(f"  failed: {failure}" for failure in request.failures)
        report = BillRunReport(
            run_date=request.run_date,
            invoiced=summary.invoiced,
            credited=summary.credited,
            nothing=summary.nothing,
            skipped=[Skipped(subscription_id=s, reason=r) for s, r in summary.skipped],
            totals=summary.totals,
            failures=request.failures,
            text=text,
        )
        ts = self._post(request, text)
        return report.model_copy(update={"slack_ts": ts})

    def _post(self, request: SummaryRequest, text: str) -> str | None:
        if not self.slack_token:
            return None
        key = f"{SLACK_ACTION}:{request.workflow_id}"
        with self.sessions() as session:
            row = session.get(IdempotencyKey, key)
            if row is not None and row.result:
                return str(row.result.get("ts"))
        client = slack_client(self.slack_token, self.slack_base_url)
        from slack_sdk.errors import SlackClientError  # loaded by the client

        try:
            posted = client.chat_postMessage(
                channel=self.billing.policy.bill_run.slack_channel, text=text
            )
        except SlackClientError as error:
            log.warning("bill run %s: summary not posted to Slack: %s", request.run_date, error)
            return None
        result = {"channel": str(posted["channel"]), "ts": str(posted["ts"])}
        with transaction(self.sessions) as session:
            session.add(
                IdempotencyKey(key=key, action=SLACK_ACTION, result=result, created_at=request.now)
            )
        return result["ts"]


def recurring_activities(
    settings: Settings,
    sessions: sessionmaker[Session],
    outbox: Outbox,
    drafter: Drafter,
    slack_base_url: str | None = None,
    change_notifier: ChangeNotifier | None = None,
) -> list[Any]:
    """The activities with the price book, tax table and policy from config/."""
    billing = Billing(
        load_pricebook(settings.config_dir / "pricebook.yaml"),
        load_tax_table(settings.config_dir / "tax_rates.yaml"),
        load_policy(settings.config_dir),
    )
    token = settings.slack_bot_token.get_secret_value() if settings.slack_bot_token else None
    return RecurringActivities(
        sessions,
        billing,
        outbox,
        drafter,
        slack_token=token,
        slack_base_url=slack_base_url,
        change_notifier=change_notifier,
    ).all()
