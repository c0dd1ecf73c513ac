"""A ledger account billed by the engine, and a worker running the whole product, for the
dispute tests and the history recorder."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session, sessionmaker
from temporalio.client import Client
from temporalio.worker import Worker

from activities.approvals.activities import ApprovalActivities
from activities.approvals.matrix import load_matrix
from activities.approvals.notifier import LogNotifier
from activities.billing.invoicing import InvoiceTerms, Started, Subscription, draft_invoice
from activities.billing.pricebook import SeatPrice
from activities.billing.tax import TaxTreatment
from activities.disputes.activities import DisputeActivities
from activities.drafting.compose import Drafter
from activities.ledger.invoices import issue_invoice
from activities.ledger.models import (
    BillingContact,
    ContractType,
    Interval,
    ItemKind,
    SubscriptionItem,
    SubscriptionStatus,
)
from activities.ledger.models import Subscription as SubscriptionRow
from activities.outbox import FileTransport, Outbox
from activities.paths import REPO_ROOT
from activities.settings import Settings
from tests.ledger import factories
from workflows.disputes import DisputeWorkflow
from workflows.registry import WORKFLOW_RUNNER, WORKFLOWS, build_activities

NY_TAX = TaxTreatment(Decimal("0.08875"), "New York sales tax 8.875%")
BUSINESS = SeatPrice("business", "Business", Decimal("25.00"))
SSO = SeatPrice("sso", "SSO", Decimal("3.00"))


@dataclass(frozen=True)
class Account:
    customer_id: str
    subscription_id: str
    invoice: str
    anchor: datetime


def seat_subscription(anchor: datetime, seats: int) -> Subscription:
    """The engine's view of the account's subscription: Business plus SSO, monthly."""
    return Subscription(
        currency="USD", anchor=anchor, interval="month", plan=BUSINESS, seats=seats, addons=(SSO,)
    )


def seat_invoice_terms(anchor: datetime, due: datetime) -> InvoiceTerms:
    return InvoiceTerms(
        issue_date=anchor.date(), payment_terms_days=(due.date() - anchor.date()).days, tax=NY_TAX
    )


def open_account(sessions: sessionmaker[Session], now: datetime, seats: int = 10) -> Account:
    """A customer billed by the engine for a month of ``seats`` seats, 10 days overdue."""
    customer_id = f"C{uuid.uuid4().hex[:8].upper()}"
    anchor = (now - timedelta(days=40)).replace(hour=0, minute=0, second=0, microsecond=0)
    due = now - timedelta(days=10)
    draft = draft_invoice(
        seat_subscription(anchor, seats),
        [Started(at=anchor)],
        terms=seat_invoice_terms(anchor, due),
    )
    with sessions.begin() as session:
        factories.customer(session, customer_id)
        session.add(
            BillingContact(
                customer_id=customer_id, name="Pat Payables", email="ap@example.com", primary=True
            )
        )
        session.add(
            SubscriptionRow(
                id=f"S-{customer_id}",
                customer_id=customer_id,
                plan="business",
                interval=Interval.MONTH,
                contract_type=ContractType.SELF_SERVE_MONTHLY,
                status=SubscriptionStatus.ACTIVE,
                currency="USD",
                term_start=anchor,
                term_end=anchor + timedelta(days=365),
                billing_anchor=anchor,
                created_at=anchor,
                items=[
                    SubscriptionItem(
                        item_code="business",
                        kind=ItemKind.PLAN,
                        quantity=seats,
                        unit_price=BUSINESS.unit_amount,
                    ),
                    SubscriptionItem(
                        item_code="sso",
                        kind=ItemKind.SEAT_ADDON,
                        quantity=seats,
                        unit_price=SSO.unit_amount,
                    ),
                ],
            )
        )
        session.flush()
        invoice = issue_invoice(
            session,
            customer_id,
            draft,
            source_key=f"bill-run:S-{customer_id}:{anchor:%Y-%m}",
            actor="system:test",
            now=anchor,
            subscription_id=f"S-{customer_id}",
        )
        number = invoice.number
    assert number is not None
    return Account(customer_id, f"S-{customer_id}", number, anchor)


@asynccontextmanager
async def product_worker(
    client: Client, sessions: sessionmaker[Session], data_dir: Path, **extra: Any
) -> AsyncIterator[str]:
    """A worker with every registered workflow and activity, plus the approval step's and the
    disputes' own where the registry does not list them yet; yields its task queue.
    ``extra`` replaces activities by name."""
    queue = f"test-{uuid.uuid4().hex[:8]}"
    settings = Settings(data_dir=data_dir, _env_file=None)
    outbox = Outbox(sessions, FileTransport(data_dir / "outbox"), settings.email_from)
    matrix = load_matrix(REPO_ROOT / "config")
    registered = build_activities(settings, sessions)
    ours = [
        *ApprovalActivities(sessions, matrix, LogNotifier()).all(),
        *DisputeActivities(sessions, outbox, Drafter(sessions)).all(),
    ]
    activities = {_name(a): a for a in [*ours, *registered]} | extra
    workflows = list(dict.fromkeys([*WORKFLOWS, DisputeWorkflow]))
    with ThreadPoolExecutor(max_workers=8) as executor:
        async with Worker(
            client,
            task_queue=queue,
            workflows=workflows,
            activities=list(activities.values()),
            activity_executor=executor,
            workflow_runner=WORKFLOW_RUNNER,
        ):
            yield queue


def _name(activity: Any) -> str:
    return str(activity.__temporal_activity_definition.name)
