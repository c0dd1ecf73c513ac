"""`/billing`: the ack checks the text and the caller's role; the work follows the ack.

A mistake or a refusal is answered in the ack itself, visible only to the
caller. Everything else is acknowledged at once and answered through the
command's response URL when the work is done: lookups only to the caller,
changes to an account in the channel, so the team sees who did what.
"""

from __future__ import annotations

import asyncio
import logging
from contextlib import suppress
from datetime import date
from typing import Any, assert_never

from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncRespond
from slack_sdk.web.async_client import AsyncWebClient
from sqlalchemy.orm import Session
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from activities.approvals import store as approval_store
from activities.billing.aging import age
from activities.collections import store as collections_store
from activities.collections.facts import PromiseFact
from activities.collections.messages import ACCOUNT_CHANGED, AccountChanged
from activities.collections.messages import workflow_id as collections_workflow_id
from activities.disputes import store as dispute_store
from activities.disputes.activities import DisputeIntake
from activities.ledger import locks
from activities.ledger.account_summary import account_summary
from activities.ledger.customers import add_note, get_customer
from activities.ledger.errors import LedgerError, NotFound
from activities.ledger.invoices import InvoiceFilter, list_invoices, open_items
from activities.ledger.models import IdempotencyKey, InvoiceStatus, Order
from activities.temporal_runtime import TemporalUnavailable
from bot import dunning, roles, subscription_changes
from bot.blocks import answers
from bot.blocks.answers import Message
from bot.commands import (
    AddNote,
    AgingLookup,
    CustomerLookup,
    DunningChange,
    Help,
    InvoiceDocuments,
    InvoicesLookup,
    MyApprovals,
    OpenDispute,
    OrderLookup,
    PreviewChange,
    RecordPromise,
    Request,
    SubscriptionChange,
    Usage,
    parse,
)
from bot.invoice_upload import upload_invoice
from bot.services import Services
from bot.subscription_preview import preview_change
from workflows.disputes import start_dispute

log = logging.getLogger("billing_ops.bot")

#: Days after the promised date before a missed promise counts as broken.
PROMISE_GRACE_DAYS = 3

#: Refusals that come back to the caller as they are: bad input, unknown records, Temporal down.
REFUSALS = (LedgerError, ValueError, TemporalUnavailable)


def register(app: AsyncApp, services: Services) -> None:
    def answer_in_ack(command: dict[str, Any]) -> dict[str, Any] | None:
        """The ack's own answer (usage, help, a refusal), or None when the work follows it."""
        request = parse(command.get("text", ""))
        if isinstance(request, Usage):
            return {"response_type": "ephemeral", **answers.usage(request)}
        if isinstance(request, Help):
            return {"response_type": "ephemeral", **answers.help_text()}
        if refusal := roles.command_refusal(
            services.matrix, command["user_id"], request.subcommand
        ):
            return {"response_type": "ephemeral", "text": f":no_entry: {refusal}"}
        return None

    async def answered_in_ack(command: dict[str, Any]) -> bool:
        return answer_in_ack(command) is not None

    async def acknowledge_with_answer(ack: AsyncAck, command: dict[str, Any]) -> None:
        await ack(**(answer_in_ack(command) or {}))

    #: Answers under way: the loop keeps only weak references to tasks.
    answering: set[asyncio.Task[None]] = set()

    async def acknowledge_then_answer(
        ack: AsyncAck, command: dict[str, Any], respond: AsyncRespond, client: AsyncWebClient
    ) -> None:
        """Ack, then answer in a task of our own. A Bolt lazy listener would first rebuild
        and deep-copy the whole request on the ack's path (the lookup's ack was 1.36x a bare
        Bolt ack, ``help`` 1.04x: bench/slack_ack.py); ``answer`` catches its own errors."""
        await ack()
        task = asyncio.create_task(answer(command, respond, client))
        answering.add(task)
        task.add_done_callback(answering.discard)

    async def answer(
        command: dict[str, Any], respond: AsyncRespond, client: AsyncWebClient
    ) -> None:
        request = parse(command.get("text", ""))
        if isinstance(request, Usage | Help):
            return  # answered in the ack
        if roles.command_refusal(services.matrix, command["user_id"], request.subcommand):
            return  # refused in the ack
        try:
            reply, public = await run(request, command, services, client)
        except REFUSALS as refused:
            reply, public = answers.failure(str(refused)), False
        except Exception:
            log.exception("/billing %s failed", command.get("text", ""))
            reply = answers.failure("That failed on our side; it is in the bot's log.")
            public = False
        await respond(response_type="in_channel" if public else "ephemeral", **reply)

    # No lazy listeners: Bolt deep-copies the request for each (a quarter of the bot's CPU
    # in bench/slack_ack.py). The first listener that matches runs.
    app.command("/billing", matchers=[answered_in_ack])(acknowledge_with_answer)
    app.command("/billing")(acknowledge_then_answer)


async def run(
    request: Request, command: dict[str, Any], services: Services, client: AsyncWebClient
) -> tuple[Message, bool]:
    """Do what the request asks; the answer, and whether the channel should see it."""
    user_id = command["user_id"]
    today = services.now().date()
    match request:
        case CustomerLookup():
            customer_id = request.customer_id
            summary = await services.ledger(lambda s: account_summary(s, customer_id, today))
            return answers.customer(summary), False
        case InvoicesLookup():
            return await services.ledger(lambda s: _invoices(s, request, today)), False
        case InvoiceDocuments(number=number):
            return await upload_invoice(services, client, command, number), False
        case AgingLookup(customer_id=customer_id):
            return await services.ledger(lambda s: _aging(s, customer_id, today)), False
        case OrderLookup(order_id=order_id):
            return await services.ledger(lambda s: answers.order(_order(s, order_id))), False
        case SubscriptionChange():
            key = f"slack:{command['trigger_id']}"  # Slack's identity of this request
            return await subscription_changes.preview(services, request, user_id, key), True
        case PreviewChange():
            now = services.now()
            invoice = await services.ledger(lambda s: preview_change(s, request, now))
            return answers.preview(request, invoice), False
        case RecordPromise():
            key = f"slack:{command['trigger_id']}"
            promise = await services.ledger(lambda s: _promise(s, request, user_id, key, services))
            reason = f"promise to pay recorded by {roles.actor(services.matrix, user_id)}"
            await _tell_collections(services, request.customer_id, reason)
            return answers.promise_recorded(request.customer_id, user_id, promise), True
        case AddNote(customer_id=customer_id, text=text):
            now = services.now()
            key = f"slack:{command['trigger_id']}"  # Slack's identity of this request
            author = roles.actor(services.matrix, user_id)
            await services.ledger(
                lambda s: add_note(s, customer_id, author, text, now, idempotency_key=key)
            )
            return answers.note_added(customer_id, user_id, text), True
        case DunningChange():
            return await _dunning(services, request, user_id), True
        case OpenDispute():
            key = f"dispute:slack:{command['trigger_id']}"
            dispute_id = await _open_dispute(services, request, user_id, key)
            return answers.dispute_opened(dispute_id, request, user_id), True
        case MyApprovals():
            return await services.ledger(lambda s: _my_approvals(s, services, user_id)), False
        case Help():
            return answers.help_text(), False
    assert_never(request)


def _invoices(session: Session, request: InvoicesLookup, today: date) -> Message:
    get_customer(session, request.customer_id)
    where = {
        "open": InvoiceFilter(customer_id=request.customer_id, status=InvoiceStatus.OPEN),
        "overdue": InvoiceFilter(customer_id=request.customer_id, overdue_as_of=today),
        "paid": InvoiceFilter(customer_id=request.customer_id, status=InvoiceStatus.PAID),
        "all": InvoiceFilter(customer_id=request.customer_id),
    }[request.view]
    rows = list_invoices(session, where)
    return answers.invoices(request.customer_id, request.view, rows, today)


def _aging(session: Session, customer_id: str | None, today: date) -> Message:
    if customer_id:
        get_customer(session, customer_id)
    report = age(open_items(session, customer_id), today, by_customer=customer_id is not None)
    return answers.aging(report, customer_id)


def _promise(
    session: Session, request: RecordPromise, user_id: str, key: str, services: Services
) -> PromiseFact:
    currency = request.currency or get_customer(session, request.customer_id).currency
    return collections_store.record_promise(
        session,
        customer_id=request.customer_id,
        amount=request.amount,
        currency=currency,
        promised_date=request.promised_date,
        grace_days=PROMISE_GRACE_DAYS,
        actor=roles.actor(services.matrix, user_id),
        now=services.now(),
        idempotency_key=key,
    )


async def _tell_collections(services: Services, customer_id: str, reason: str) -> None:
    """Wake the account's cadence so it reloads the ledger; none running is fine (the daily
    sweep starts one when something is due), and so is Temporal being down for now."""
    try:
        client = await services.temporal()
        handle = client.get_workflow_handle(collections_workflow_id(customer_id))
        await handle.signal(ACCOUNT_CHANGED, AccountChanged(reason=reason))
    except RPCError as error:
        if error.status != RPCStatusCode.NOT_FOUND:
            log.warning("could not signal the cadence of %s: %s", customer_id, error)
    except TemporalUnavailable as error:
        log.warning("could not signal the cadence of %s: %s", customer_id, error)


async def _dunning(services: Services, request: DunningChange, user_id: str) -> Message:
    """Hold or release the cadence in the ledger, then wake the cadence to read it."""
    now, actor = services.now(), roles.actor(services.matrix, user_id)
    customer_id = request.customer_id
    if request.pause:
        resume_at = await services.ledger(
            lambda s: dunning.pause(
                s, customer_id, until=request.until, reason=request.reason, actor=actor, now=now
            )
        )
        await _tell_collections(services, customer_id, f"dunning paused by {actor}")
        return answers.dunning_paused(customer_id, user_id, resume_at, request.reason)
    await services.ledger(lambda s: dunning.resume(s, customer_id, actor=actor, now=now))
    await _tell_collections(services, customer_id, f"dunning resumed by {actor}")
    return answers.dunning_resumed(customer_id, user_id)


async def _open_dispute(services: Services, request: OpenDispute, user_id: str, key: str) -> str:
    """Check the dispute as the ledger will hold it, number it, and start its workflow.

    ``key`` is the command's identity: the same request replayed finds the number it got
    the first time, and its workflow id is taken, so nothing opens twice. Copies arriving
    together queue on the customer's row lock, so each reads the key the first one wrote.
    """
    now = services.now()

    def number(session: Session) -> str:
        locks.customer(session, request.customer_id)
        done = session.get(IdempotencyKey, key, populate_existing=True)
        if done is not None and done.result:
            return str(done.result["dispute_id"])
        invoices = list(request.invoice_numbers)
        dispute_store.check_disputable(session, request.customer_id, invoices, request.claim)
        dispute_id = dispute_store.new_dispute_id(session)
        result = {"dispute_id": dispute_id}
        session.add(
            IdempotencyKey(key=key, action="dispute.numbered", result=result, created_at=now)
        )
        return dispute_id

    dispute_id = await services.ledger(number)
    client = await services.temporal()
    # A replayed command finds its dispute's workflow already started: nothing opens twice.
    with suppress(WorkflowAlreadyStartedError):
        await start_dispute(
            client,
            DisputeIntake(
                dispute_id=dispute_id,
                customer_id=request.customer_id,
                invoices=list(request.invoice_numbers),
                claim=request.claim,
                opened_by=roles.actor(services.matrix, user_id),
            ),
            services.task_queue,
        )
    return dispute_id


def _order(session: Session, order_id: str) -> Order:
    order = session.get(Order, order_id)
    if order is None:
        raise NotFound(f"order {order_id!r} not found")
    return order


def _my_approvals(session: Session, services: Services, user_id: str) -> Message:
    rows = [
        row
        for row in approval_store.pending(session)
        if roles.may_decide(services.matrix, user_id, row)
    ]
    return answers.approvals(rows)
