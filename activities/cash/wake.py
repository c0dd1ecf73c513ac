"""Telling collections cadences about cash, after the ledger transaction committed.

An applied payment wakes the customer's cadence (it re-reads the account and
stops when nothing is owed); a failed card payment starts the cadence if none
runs, so the customer is asked for a new card; a refund or a card dispute
makes a running cadence re-read the account.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from activities.cash.store import Applied
from activities.cash.stripe_events import FAILED, EventOutcome
from activities.collections.messages import PaymentReceived

if TYPE_CHECKING:  # Temporal's SDK loads when a wake is sent: `cash review` reads the ledger
    from temporalio.client import Client


@dataclass(frozen=True, slots=True)
class Wake:
    customer_id: str
    payment: PaymentReceived | None = None
    reason: str | None = None
    start: bool = False


def for_applied(applied: Applied) -> list[Wake]:
    return [
        Wake(
            applied.customer_id,
            PaymentReceived(
                processor_id=p.processor_id,
                amount=p.amount,
                currency=p.currency,
                received_at=applied.received_at,
            ),
        )
        for p in applied.payments
        if not p.already_recorded
    ]


def for_event(outcome: EventOutcome, event_type: str, now: datetime) -> list[Wake]:
    wakes: list[Wake] = []
    for customer_id, done in outcome.customers_to_wake():
        for payment in done.payments:
            if not payment.already_recorded:
                wakes.append(
                    Wake(
                        customer_id,
                        PaymentReceived(
                            processor_id=payment.processor_id,
                            amount=payment.amount,
                            currency=payment.currency,
                            received_at=done.received_at or now,
                        ),
                    )
                )
        if done.account_changed:
            start = done is outcome and event_type in FAILED
            wakes.append(Wake(customer_id, reason=done.account_changed, start=start))
    return wakes


async def wake(client: Client, wakes: Iterable[Wake], task_queue: str) -> int:
    """Send each wake; returns how many reached a cadence (or started one)."""
    from activities.collections.client import (
        notify_account_changed,
        notify_payment,
        start_or_nudge,
    )

    reached = 0
    for item in wakes:
        if item.payment is not None:
            reached += await notify_payment(client, item.customer_id, item.payment)
        elif item.start:
            await start_or_nudge(client, item.customer_id, task_queue, item.reason or "")
            reached += 1
        else:
            reached += await notify_account_changed(client, item.customer_id, item.reason or "")
    return reached
