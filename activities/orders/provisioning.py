"""The provisioning activities: the side effects an order's workflow asks for.

Each takes one pydantic input whose ``now`` comes from the workflow's clock.
Each is idempotent by the order id: a retried activity, or the same order
submitted again, finds what was already done and returns it (one customer,
one subscription change, entitlements set rather than added, one invoice
under the source key ``order:<id>``, one email under its outbox key).

The invoice email is drafted inside ``orders.send_invoice_email`` with the
shared :class:`~activities.drafting.compose.Drafter`, as the collections
emails are: the template alone without an OpenAI key; with one, the model's
draft held to the invoice as the ledger has it. The workflow's commands (and
its recorded histories) stay as they were, and the outbox key stays the one
idempotency point: a retry sends the draft queued first and does not ask the
model again.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict
from sqlalchemy.orm import Session, sessionmaker
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.billing.invoicing import Discount, InvoiceTerms, InvoicingError, draft_invoice
from activities.billing.money import format_money
from activities.billing.tax import TaxError, TaxTreatment, tax_treatment
from activities.collections.client import start_or_nudge
from activities.documents.errors import EInvoiceError, GlyphError
from activities.documents.store import issue_invoice_documents
from activities.drafting.compose import Drafter
from activities.invoice_email import InvoiceEmail, send_invoice_email
from activities.ledger import audit
from activities.ledger.customers import get_customer
from activities.ledger.db import transaction
from activities.ledger.errors import LedgerError
from activities.ledger.invoices import get_invoice, issue_invoice
from activities.ledger.models import Customer, Invoice, Order, OrderStatus
from activities.orders import store
from activities.orders.changes import (
    amendment_events,
    engine_subscription,
    first_invoice_events,
    order_discounts,
)
from activities.orders.entitlements import (
    EntitlementChange,
    EntitlementService,
    Grant,
    LocalEntitlements,
)
from activities.orders.messages import InvoiceFacts
from activities.orders.model import Order as OrderForm
from activities.orders.validation import (
    OrderRules,
    SubscriptionFacts,
    ValidationReport,
    load_order_rules,
    validate_order,
)
from activities.outbox import Outbox
from activities.recurring.credits import available_credit, spend_credit
from activities.search_attributes import minor_units


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True)


class ReceiveOrder(_Model):
    order_id: str
    order: dict[str, Any]
    actor: str
    now: datetime


class OrderRecord(_Model):
    """The order's row as provisioning left it."""

    order_id: str
    status: str
    customer_id: str | None
    subscription_id: str | None
    invoice: InvoiceFacts | None


class ValidateOrder(_Model):
    order: dict[str, Any]
    today: date


class RecordStatus(_Model):
    order_id: str
    status: str
    order: dict[str, Any] | None = None
    report: ValidationReport | None = None
    actor: str
    reason: str | None = None
    now: datetime


class ProvisionAccount(_Model):
    order: OrderForm
    workflow_id: str
    now: datetime


class AccountChange(_Model):
    """The customer and subscription an order provisioned, with the subscription before
    (``None`` for a new one) and after the change, and when the change counts from."""

    customer_id: str
    subscription_id: str
    created_customer: bool
    before: SubscriptionFacts | None
    after: SubscriptionFacts
    effective_at: datetime


class GrantEntitlements(_Model):
    customer_id: str
    subscription_id: str
    grants: list[Grant]
    workflow_id: str
    now: datetime


class IssueOrderInvoice(_Model):
    order: OrderForm
    change: AccountChange
    workflow_id: str
    now: datetime


class SendInvoiceEmail(_Model):
    order_id: str
    customer_id: str
    invoice_number: str
    workflow_id: str
    now: datetime


class EmailSent(_Model):
    key: str
    to: list[str]
    already_sent: bool


class HandToCollections(_Model):
    order_id: str
    customer_id: str
    invoice: InvoiceFacts


def _refuse(error: Exception) -> ApplicationError:
    """Bad data or configuration: retrying cannot help, so fail the activity for good."""
    return ApplicationError(str(error), type=type(error).__name__, non_retryable=True)


def _invoice_facts(invoice: Invoice) -> InvoiceFacts:
    assert invoice.number is not None
    return InvoiceFacts(
        number=invoice.number,
        currency=invoice.currency,
        total=invoice.total,
        amount_due=invoice.amount_due,
        issue_date=invoice.issue_date,
        due_date=invoice.due_date,
        total_minor=minor_units(invoice.total, invoice.currency),
    )


def _record(row: Order, session: Session) -> OrderRecord:
    invoice = session.get(Invoice, row.invoice_id) if row.invoice_id is not None else None
    return OrderRecord(
        order_id=row.id,
        status=row.status.value,
        customer_id=row.customer_id,
        subscription_id=row.subscription_id,
        invoice=_invoice_facts(invoice) if invoice is not None else None,
    )


def grants_for(subscription: SubscriptionFacts) -> list[Grant]:
    """Every product of the subscription at its seats (metered add-ons at 0)."""
    return [Grant(product=item.item_code, quantity=item.quantity) for item in subscription.items]


class ProvisioningActivities:
    """Bound to the ledger, the order rules, the entitlement service, the outbox and the
    drafter."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        rules: OrderRules,
        entitlements: EntitlementService,
        outbox: Outbox,
        drafter: Drafter,
        collections_queue: str | None = None,
    ) -> None:
        self.sessions = sessions
        self.rules = rules
        self.entitlements = entitlements
        self.outbox = outbox
        self.drafter = drafter
        #: Where collections cadences run; by default the queue of this worker.
        self.collections_queue = collections_queue

    def all(self) -> list[Any]:
        """Every activity, for the worker's registration."""
        return [
            self.receive,
            self.validate,
            self.record_status,
            self.provision_account,
            self.provision_entitlements,
            self.issue_first_invoice,
            self.send_invoice_email,
            self.hand_to_collections,
        ]

    @activity.defn(name="orders.receive")
    def receive(self, request: ReceiveOrder) -> OrderRecord:
        """Record the order's arrival (once); an order already provisioned is returned as it is."""
        try:
            with transaction(self.sessions) as session:
                row = store.receive(
                    session, request.order_id, request.order, request.actor, request.now
                )
                return _record(row, session)
        except LedgerError as error:
            raise _refuse(error) from None

    @activity.defn(name="orders.validate")
    def validate(self, request: ValidateOrder) -> ValidationReport:
        """Every rule, against the ledger as it is now. Reads only."""
        with self.sessions() as session:
            facts = store.ledger_facts(session, request.order)
        return validate_order(request.order, self.rules, facts, request.today)

    @activity.defn(name="orders.record_status")
    def record_status(self, request: RecordStatus) -> None:
        try:
            with transaction(self.sessions) as session:
                store.set_status(
                    session,
                    request.order_id,
                    OrderStatus(request.status),
                    payload=request.order,
                    report=request.report,
                    actor=request.actor,
                    reason=request.reason,
                    now=request.now,
                )
        except LedgerError as error:
            raise _refuse(error) from None

    @activity.defn(name="orders.provision_account")
    def provision_account(self, request: ProvisionAccount) -> AccountChange:
        """Create the customer (when new) and the subscription, or amend the subscription."""
        order = request.order
        key = f"order:{order.order_id}:account"
        actor = f"workflow:{request.workflow_id}"
        try:
            with transaction(self.sessions) as session:
                if (result := store.done(session, key)) is not None:
                    return AccountChange.model_validate(result)
                change = self._provision(session, order, actor, request.now)
                row = session.get(Order, order.order_id)
                if row is None:
                    raise LedgerError(f"order {order.order_id!r} was never received")
                row.customer_id = change.customer_id
                row.subscription_id = change.subscription_id
                store.remember(session, key, "order.account", change.model_dump(), request.now)
                return change
        except LedgerError as error:
            raise _refuse(error) from None

    def _provision(
        self, session: Session, order: OrderForm, actor: str, now: datetime
    ) -> AccountChange:
        book = self.rules.book
        if order.amends is not None:
            customer = store.customer_of(session, order)
            subscription = store.subscription_of(session, order.amends)
            before = store.subscription_facts(subscription)
            store.amend_subscription(session, subscription, order, book, actor, now)
            assert order.effective_date is not None
            return AccountChange(
                customer_id=customer.id,
                subscription_id=subscription.id,
                created_customer=False,
                before=before,
                after=store.subscription_facts(subscription),
                effective_at=store.midnight(order.effective_date),
            )
        created = order.customer.id is None
        if created:
            customer = store.create_customer(session, order, actor, now)
        else:
            customer = store.customer_of(session, order)
        subscription = store.create_subscription(session, customer, order, book, actor, now)
        return AccountChange(
            customer_id=customer.id,
            subscription_id=subscription.id,
            created_customer=created,
            before=None,
            after=store.subscription_facts(subscription),
            effective_at=subscription.term_start,
        )

    @activity.defn(name="orders.provision_entitlements")
    def provision_entitlements(self, request: GrantEntitlements) -> list[EntitlementChange]:
        """Bring the customer's entitlements to what the subscription now has."""
        try:
            return self.entitlements.apply(
                request.customer_id,
                request.subscription_id,
                request.grants,
                actor=f"workflow:{request.workflow_id}",
                now=request.now,
            )
        except LedgerError as error:
            raise _refuse(error) from None

    @activity.defn(name="orders.issue_first_invoice")
    def issue_first_invoice(self, request: IssueOrderInvoice) -> InvoiceFacts | None:
        """The order's invoice from the invoicing engine, stored under ``order:<id>``.

        A new subscription's first invoice runs from the term start to the billing
        anchor (prorated) or for a full period; an amendment's charges the change for
        the rest of the current period. The customer's account credit is spent on it,
        as on every invoice the product issues (activities/recurring/credits.py).
        ``None`` when the order costs nothing now (only a metered add-on added).
        """
        order, change = request.order, request.change
        book = self.rules.book
        try:
            with transaction(self.sessions) as session:
                customer = get_customer(session, change.customer_id)
                discounts: tuple[Discount, ...] = ()
                if change.before is None:
                    subscription, discounts = order_discounts(
                        engine_subscription(change.after, book), order, book
                    )
                    events = first_invoice_events(change.after)
                else:
                    subscription = engine_subscription(change.before, book)
                    events = amendment_events(
                        change.before, change.after, change.effective_at, book
                    )
                draft = draft_invoice(
                    subscription,
                    events,
                    terms=InvoiceTerms(
                        issue_date=request.now.date(),
                        payment_terms_days=customer.payment_terms_days,
                        po_number=order.purchase_order.number if order.purchase_order else None,
                        tax=self._tax(customer),
                        discounts=discounts,
                        account_credit=available_credit(
                            session, customer.id, subscription.currency
                        ),
                    ),
                )
                if not draft.lines:
                    return None
                invoice = issue_invoice(
                    session,
                    customer.id,
                    draft,
                    source_key=f"order:{order.order_id}",
                    actor=f"workflow:{request.workflow_id}",
                    now=request.now,
                    subscription_id=change.subscription_id,
                )
                session.flush()  # the invoice's id, for the credit it spends
                spend_credit(
                    session, invoice, actor=f"workflow:{request.workflow_id}", now=request.now
                )
                row = session.get(Order, order.order_id)
                if row is not None:
                    row.invoice_id = invoice.id
                return _invoice_facts(invoice)
        except (LedgerError, InvoicingError, TaxError, ValueError) as error:
            raise _refuse(error) from None

    def _tax(self, customer: Customer) -> TaxTreatment:
        vat = next((t.value for t in customer.tax_ids if t.scheme == "eu_vat"), None)
        return tax_treatment(
            self.rules.tax,
            customer.region or customer.country,
            exempt=customer.tax_exempt,
            vat_id=vat,
        )

    @activity.defn(name="orders.send_invoice_email")
    def send_invoice_email(self, request: SendInvoiceEmail) -> EmailSent:
        """Send the invoice email (activities/invoice_email.py) with the invoice's documents,
        once (outbox key per order); a customer without a billing contact stops the order."""
        key = f"order:{request.order_id}:invoice-email"
        documents = self._documents(request)
        try:
            sent = send_invoice_email(
                self.sessions,
                self.outbox,
                self.drafter,
                InvoiceEmail(
                    kind="orders/invoice_issued",
                    key=key,
                    customer_id=request.customer_id,
                    invoice_number=request.invoice_number,
                    references={"order_id": request.order_id},
                    actor=f"workflow:{request.workflow_id}",
                    action="order.invoice_emailed",
                    now=request.now,
                    documents=tuple(documents),
                ),
            )
        except LedgerError as error:
            raise _refuse(error) from None
        if sent is None:
            raise _refuse(LedgerError(f"customer {request.customer_id} has no billing contact"))
        return EmailSent(key=key, to=sent.to, already_sent=sent.delivery.already_sent)

    def _documents(self, request: SendInvoiceEmail) -> list[tuple[int, str]]:
        """The invoice's documents (id, filename), issued now if they are not yet.

        A document that must not be sent (an e-invoice breaking an EN 16931 rule, a
        name the font cannot print) stops the email: the refusal, with the rule, is
        audited on the invoice and fails the activity for good, so the order's
        workflow stops there for a person to resolve.
        """
        actor = f"workflow:{request.workflow_id}"
        try:
            with transaction(self.sessions) as session:
                invoice = get_invoice(session, request.invoice_number)
                rows = issue_invoice_documents(session, invoice, actor=actor, now=request.now)
                return [(row.id, row.filename) for row in rows]
        except (EInvoiceError, GlyphError) as error:
            with transaction(self.sessions) as session:
                audit.record(
                    session,
                    at=request.now,
                    actor=actor,
                    action="invoice.documents_refused",
                    subject_type="invoice",
                    subject_id=request.invoice_number,
                    reason=str(error),
                )
            raise _refuse(error) from None
        except LedgerError as error:
            raise _refuse(error) from None

    @activity.defn(name="orders.hand_to_collections")
    async def hand_to_collections(self, request: HandToCollections) -> str:
        """Tell the customer's collections cadence about the new invoice and its due date.

        Signal-with-start: a running cadence re-reads the account, a missing one
        starts. Sending it twice is harmless (the cadence reads the ledger).
        """
        invoice = request.invoice
        return await start_or_nudge(
            activity.client(),
            request.customer_id,
            self.collections_queue or activity.info().task_queue,
            f"order {request.order_id}: invoice {invoice.number} issued, "
            f"{format_money(invoice.amount_due, invoice.currency)} due {invoice.due_date}",
        )


def order_activities(
    sessions: sessionmaker[Session], outbox: Outbox, drafter: Drafter
) -> list[Any]:
    """The provisioning activities with the rules from config/ and the local entitlement
    table: what the worker registers."""
    activities = ProvisioningActivities(
        sessions, load_order_rules(), LocalEntitlements(sessions), outbox, drafter
    )
    return activities.all()
