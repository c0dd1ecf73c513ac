"""One order, from receipt to provisioned and invoiced: the provisioning workflow.

Read :meth:`OrderProvisioningWorkflow.run` as the process: record the order,
validate it; while it has errors, hold it as an exception until an analyst
corrects it (an update, checked by a validator, then re-validated against the
ledger) or rejects it; send price exceptions through the approval step; then
create or amend the customer's subscription, bring the entitlements to it,
issue the invoice from the invoicing engine, email it, and hand its due date
to collections. Amendments (more seats, an upgrade) take the same path and
get a prorated invoice. Every side effect is an activity keyed by the order id.

An order started with search attributes (cli/orders.py, where the namespace
knows them) keeps its stage, customer, currency and invoiced amount current in
them (workflows/search.py), so the Temporal UI lists "orders held as an
exception" or "orders of CUS-0042".
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError

from workflows.approval import ApprovalInput, AwaitsApproval
from workflows.search import keep_current

with workflow.unsafe.imports_passed_through():
    from activities.ledger.errors import DATA_ERRORS
    from activities.orders.intake import apply_correction
    from activities.orders.messages import (
        CORRECT_UPDATE,
        REJECT_UPDATE,
        STATUS_QUERY,
        WORKFLOW_TYPE,
        Correction,
        InvoiceFacts,
        OrderOutcome,
        OrderStart,
        OrderView,
        Rejection,
        State,
    )
    from activities.orders.model import Order
    from activities.orders.provisioning import (
        AccountChange,
        GrantEntitlements,
        HandToCollections,
        IssueOrderInvoice,
        OrderRecord,
        ProvisionAccount,
        ProvisioningActivities,
        ReceiveOrder,
        RecordStatus,
        SendInvoiceEmail,
        ValidateOrder,
        grants_for,
    )
    from activities.orders.validation import Problem, ValidationReport, parse_order
    from activities.search_attributes import AMOUNT_MINOR, CURRENCY, CUSTOMER_ID, STAGE

#: Activities retry until they succeed (an outage only delays the order); bad data is
#: raised as non-retryable by the activities (and the ledger's refusals are never retried
#: whatever raised them): the order then waits as an exception for a person.
RETRY = RetryPolicy(
    maximum_interval=timedelta(minutes=5),
    non_retryable_error_types=DATA_ERRORS,
)
QUICK = timedelta(minutes=2)


class _Rejected(Exception):
    """An analyst rejected the order held as an exception."""


def _data_error(error: ActivityError) -> str | None:
    """The reason when an activity failed for good on its data; None for anything else."""
    cause = error.cause
    if isinstance(cause, ApplicationError) and cause.non_retryable:
        return cause.message
    return None


@workflow.defn(name=WORKFLOW_TYPE)
class OrderProvisioningWorkflow(AwaitsApproval):
    def __init__(self) -> None:
        self._order: dict[str, Any] = {}
        self._view = OrderView(order_id="")
        self._report: ValidationReport | None = None
        self._revalidated = False
        self._correcting = False
        self._rejection: Rejection | None = None
        self._entitled = False

    @workflow.run
    async def run(self, start: OrderStart) -> OrderOutcome:
        try:
            return await self._run(start)
        except _Rejected:
            assert self._rejection is not None
            return await self._reject(self._rejection.by, self._rejection.reason)

    async def _run(self, start: OrderStart) -> OrderOutcome:
        self._order = dict(start.order)
        self._show(order_id=start.order_id)
        record = await self._receive(start)
        if record.status == "provisioned":
            self._show(
                state="provisioned",
                customer_id=record.customer_id,
                subscription_id=record.subscription_id,
                invoice=record.invoice,
                detail="already provisioned; nothing done again",
            )
            return self._outcome("provisioned", already=True)

        report = await self._validate()
        while True:
            report = await self._until_valid(report)
            assert report.order is not None
            order = report.order
            if report.price_exceptions:
                await self._record("pending_approval", report, actor=self._workflow_actor())
                self._show(
                    state="pending_approval", detail="waiting for a price-exception approval"
                )
                amount = sum((e.amount for e in report.price_exceptions), Decimal(0))
                decision = await self.request_approval(
                    ApprovalInput(
                        action="price_exception",
                        summary=f"Order {order.order_id}: "
                        + "; ".join(e.describe() for e in report.price_exceptions),
                        requested_by=start.submitted_by,
                        customer_id=order.customer.id,
                        amount=amount,
                        currency=order.currency,
                    )
                )
                if not decision.approved:
                    return await self._reject(
                        decision.decided_by,
                        f"price exception {decision.outcome}: {decision.reason}",
                    )
            try:
                await self._provision(order)
            except ActivityError as error:
                refusal = _data_error(error)
                if refusal is None:
                    raise
                # Bad data never retries: the order waits as an exception, saying what exists.
                report = self._refused(report, refusal)
                continue
            break
        await self._record("provisioned", None, actor=self._workflow_actor())
        self._show(state="provisioned", detail=None)
        return self._outcome("provisioned")

    async def _until_valid(self, report: ValidationReport) -> ValidationReport:
        """Hold the order as an exception until a correction validates it; a rejection
        raises :class:`_Rejected`, which :meth:`run` turns into the rejected outcome."""
        while not report.ok:
            await self._record("exception", report, actor=self._workflow_actor())
            self._show(
                state="exception",
                problems=report.problems,
                detail=self._exception_detail(report),
            )
            self._revalidated = False
            await workflow.wait_condition(lambda: self._revalidated or self._rejection is not None)
            if self._rejection is not None:
                raise _Rejected()
            assert self._report is not None
            report = self._report
        return report

    async def _provision(self, order: Order) -> None:
        """Customer and subscription, entitlements, invoice, email, collections."""
        self._show(state="provisioning", detail=None)
        wid = workflow.info().workflow_id
        change: AccountChange = await workflow.execute_activity_method(
            ProvisioningActivities.provision_account,
            ProvisionAccount(order=order, workflow_id=wid, now=workflow.now()),
            start_to_close_timeout=QUICK,
            retry_policy=RETRY,
        )
        self._show(customer_id=change.customer_id, subscription_id=change.subscription_id)
        await workflow.execute_activity_method(
            ProvisioningActivities.provision_entitlements,
            GrantEntitlements(
                customer_id=change.customer_id,
                subscription_id=change.subscription_id,
                grants=grants_for(change.after),
                workflow_id=wid,
                now=workflow.now(),
            ),
            start_to_close_timeout=QUICK,
            retry_policy=RETRY,
        )
        self._entitled = True
        invoice: InvoiceFacts | None = await workflow.execute_activity_method(
            ProvisioningActivities.issue_first_invoice,
            IssueOrderInvoice(order=order, change=change, workflow_id=wid, now=workflow.now()),
            start_to_close_timeout=QUICK,
            retry_policy=RETRY,
        )
        if invoice is not None:
            self._show(invoice=invoice)
            await workflow.execute_activity_method(
                ProvisioningActivities.send_invoice_email,
                SendInvoiceEmail(
                    order_id=order.order_id,
                    customer_id=change.customer_id,
                    invoice_number=invoice.number,
                    workflow_id=wid,
                    now=workflow.now(),
                ),
                start_to_close_timeout=QUICK,
                retry_policy=RETRY,
            )
            await workflow.execute_activity_method(
                ProvisioningActivities.hand_to_collections,
                HandToCollections(
                    order_id=order.order_id, customer_id=change.customer_id, invoice=invoice
                ),
                start_to_close_timeout=QUICK,
                retry_policy=RETRY,
            )

    def _refused(self, report: ValidationReport, reason: str) -> ValidationReport:
        """The report an order held for a data error shows: the ledger's refusal and
        exactly what provisioning has written so far."""
        view = self._view
        if view.customer_id is None:
            written = (
                "nothing was written (the customer and subscription are one transaction); "
                "a correction validates the order again and provisions it from the start"
            )
        else:
            done = [f"customer {view.customer_id}", f"subscription {view.subscription_id}"]
            if self._entitled:
                done.append("its entitlements")
            if view.invoice is not None:
                done.append(f"invoice {view.invoice.number}")
            written = (
                f"{', '.join(done)} exist; a correction validates the order again and "
                "continues from the step that failed with them (the customer and "
                "subscription already created are not changed by it)"
            )
        problem = Problem(
            field="order",
            rule="ledger_refused",
            message=f"provisioning stopped: {reason}; {written}",
        )
        return report.model_copy(update={"problems": [*report.problems, problem]})

    def _exception_detail(self, report: ValidationReport) -> str:
        refused = [p.message for p in report.problems if p.rule == "ledger_refused"]
        return refused[0] if refused else "waiting for an analyst to correct or reject"

    # --- steps ------------------------------------------------------------------

    async def _receive(self, start: OrderStart) -> OrderRecord:
        return await workflow.execute_activity_method(
            ProvisioningActivities.receive,
            ReceiveOrder(
                order_id=start.order_id,
                order=self._order,
                actor=start.submitted_by,
                now=workflow.now(),
            ),
            start_to_close_timeout=QUICK,
            retry_policy=RETRY,
        )

    async def _validate(self) -> ValidationReport:
        report: ValidationReport = await workflow.execute_activity_method(
            ProvisioningActivities.validate,
            ValidateOrder(order=self._order, today=workflow.now().date()),
            start_to_close_timeout=QUICK,
            retry_policy=RETRY,
        )
        self._report = report
        self._show(problems=report.problems, price_exceptions=report.price_exceptions)
        return report

    async def _record(
        self,
        status: str,
        report: ValidationReport | None,
        *,
        actor: str,
        reason: str | None = None,
        order: dict[str, Any] | None = None,
    ) -> None:
        await workflow.execute_activity_method(
            ProvisioningActivities.record_status,
            RecordStatus(
                order_id=self._view.order_id,
                status=status,
                order=order,
                report=report,
                actor=actor,
                reason=reason,
                now=workflow.now(),
            ),
            start_to_close_timeout=QUICK,
            retry_policy=RETRY,
        )

    async def _reject(self, by: str, reason: str) -> OrderOutcome:
        await self._record("rejected", None, actor=by, reason=reason)
        self._show(state="rejected", detail=reason)
        return self._outcome("rejected", reason=reason)

    def _workflow_actor(self) -> str:
        return f"workflow:{workflow.info().workflow_id}"

    def _show(self, **changes: object) -> None:
        self._view = self._view.model_copy(update=changes)
        self._publish()

    def _publish(self) -> None:
        """The order's stage, customer, currency and invoiced total as search attributes."""
        view = self._view
        order = self._report.order if self._report is not None else None
        customer_id = view.customer_id or (order.customer.id if order is not None else None)
        currency = view.invoice.currency if view.invoice else order.currency if order else None
        amount = view.invoice.total_minor if view.invoice else None
        keep_current(
            STAGE.value_set(view.state),
            CUSTOMER_ID.value_set(customer_id) if customer_id else CUSTOMER_ID.value_unset(),
            CURRENCY.value_set(currency) if currency else CURRENCY.value_unset(),
            AMOUNT_MINOR.value_set(amount) if amount is not None else AMOUNT_MINOR.value_unset(),
        )

    def _outcome(
        self, state: State, *, already: bool = False, reason: str | None = None
    ) -> OrderOutcome:
        view = self._view
        return OrderOutcome(
            order_id=view.order_id,
            state=state,
            customer_id=view.customer_id,
            subscription_id=view.subscription_id,
            invoice=view.invoice,
            already_provisioned=already,
            reason=reason,
        )

    # --- what people send and read ---------------------------------------------------

    @workflow.update(name=CORRECT_UPDATE)
    async def correct(self, correction: Correction) -> ValidationReport:
        """Replace fields of an order held as an exception; returns the new validation."""
        self._correcting = True
        try:
            self._order = apply_correction(self._order, correction.fields)
            report = await self._validate()
            await self._record(
                "exception" if not report.ok else "received",
                report,
                actor=correction.by,
                reason=correction.reason or f"corrected {', '.join(correction.fields)}",
                order=self._order,
            )
        finally:
            self._correcting = False
        self._revalidated = True
        return report

    @correct.validator
    def _check_correction(self, correction: Correction) -> None:
        """Refuse before history is touched: not an exception, no author, or a correction
        that leaves the order unreadable (wrong path, wrong type)."""
        if self._view.state != "exception" or self._correcting:
            raise ValueError(
                f"order {self._view.order_id} is {self._view.state}: only an order held as "
                "an exception can be corrected, one correction at a time"
            )
        if not correction.by.strip():
            raise ValueError("by: say who corrects the order (cli:<user>, slack:<user>)")
        if not correction.fields:
            raise ValueError("fields: nothing to correct")
        _, problems = parse_order(apply_correction(self._order, correction.fields))
        if problems:
            raise ValueError("; ".join(f"{p.field}: {p.message}" for p in problems))

    @workflow.update(name=REJECT_UPDATE)
    def reject(self, rejection: Rejection) -> None:
        """End an order held as an exception without provisioning it."""
        self._rejection = rejection

    @reject.validator
    def _check_rejection(self, rejection: Rejection) -> None:
        if self._view.state != "exception" or self._correcting:
            raise ValueError(
                f"order {self._view.order_id} is {self._view.state}: only an order held as "
                "an exception can be rejected (a price exception is rejected by its approver)"
            )
        if not rejection.by.strip() or not rejection.reason.strip():
            raise ValueError(
                "by and reason: a rejection says who and why, for Sales and the audit log"
            )

    @workflow.query(name=STATUS_QUERY)
    def status(self) -> OrderView:
        return self._view
