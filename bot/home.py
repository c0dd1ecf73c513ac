"""The App Home tab, published each time someone opens it: their pending approvals, the
accounts in escalation, and the promises to pay that fall due today."""

from __future__ import annotations

from datetime import datetime

from slack_bolt.async_app import AsyncAck, AsyncApp
from slack_sdk.web.async_client import AsyncWebClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from activities.approvals import store as approval_store
from activities.collections.cadence import CadenceBook
from activities.collections.facts import totals
from activities.collections.plan import cycle_of, step_date
from activities.collections.store import accounts_to_sweep, load_snapshot
from activities.ledger.models import Customer, PromiseStatus, PromiseToPay
from bot import roles
from bot.blocks.home import Escalation, PromiseDue, home_view
from bot.blocks.kit import amounts
from bot.services import Services


def register(app: AsyncApp, services: Services) -> None:
    async def ack_event(ack: AsyncAck) -> None:
        await ack()

    async def publish(event: dict[str, str], client: AsyncWebClient) -> None:
        if event.get("tab", "home") != "home":
            return
        user_id = event["user"]
        now = services.now()
        view = await services.ledger(lambda s: _home(s, services, user_id, now))
        await client.views_publish(user_id=user_id, view=view)

    app.event("app_home_opened")(ack=ack_event, lazy=[publish])


def _home(session: Session, services: Services, user_id: str, now: datetime) -> dict[str, object]:
    today = now.date()
    approvals = [
        row
        for row in approval_store.pending(session)
        if roles.may_decide(services.matrix, user_id, row)
    ]
    promises = [
        PromiseDue(customer.id, customer.legal_name, p.amount, p.currency, p.recorded_by)
        for p, customer in session.execute(
            select(PromiseToPay, Customer)
            .join(Customer, Customer.id == PromiseToPay.customer_id)
            .where(PromiseToPay.status == PromiseStatus.OPEN, PromiseToPay.promised_date == today)
            .order_by(PromiseToPay.customer_id)
        )
    ]
    return home_view(today, approvals, escalations(session, services.cadences, now), promises)


def escalations(session: Session, book: CadenceBook, now: datetime) -> list[Escalation]:
    """Accounts whose cadence has gone past emails: escalated to the owner, suspended, or in
    write-off review, by the cadence's calendar. Accounts on hold (do not dun, paused, an
    open promise to pay) are not chased, so they are not listed."""
    found = []
    for customer_id in accounts_to_sweep(session, now.date(), 0):
        account = load_snapshot(session, book, customer_id, now)
        cycle = cycle_of(account)
        if cycle is None or account.open_promise or account.do_not_dun:
            continue
        if account.paused_until and account.paused_until > now:
            continue
        beyond_emails = [
            step
            for step in account.cadence.steps
            if step_date(step, cycle) <= now.date() and not step.is_message
        ]
        if beyond_emails:
            overdue = amounts(totals(account.collectible))
            stage = beyond_emails[-1].name.replace("_", " ")
            found.append(Escalation(customer_id, account.legal_name, stage, overdue))
    return found
