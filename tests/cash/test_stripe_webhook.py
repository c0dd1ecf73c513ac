"""``POST /stripe/webhook`` on the bot's real server (uvicorn on 127.0.0.1), with events signed
by the real ``stripe`` library: forged, stale, replayed and out-of-order deliveries, disputes,
and a failed payment that reaches the collections cadence in a real Temporal server."""

from __future__ import annotations

import asyncio
import json
import socket
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from datetime import date
from decimal import Decimal
from typing import Any

import aiohttp
import pytest
import stripe
import uvicorn
from pydantic import SecretStr
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from activities.approvals.matrix import load_matrix
from activities.cash.stripe_events import link_customer
from activities.collections.cadence import load_cadences
from activities.collections.messages import workflow_id
from activities.ledger.errors import LedgerError
from activities.ledger.invariants import violations
from activities.ledger.models import (
    Dispute,
    DisputeStatus,
    Invoice,
    InvoiceStatus,
    Payment,
    Refund,
    StripeEvent,
)
from activities.ledger.payments import RefundIn, refund_payment
from activities.paths import CONFIG_DIR
from activities.settings import Settings
from bot.ack_first import AckFirst
from bot.server import create_asgi_app, webhook_routes
from bot.services import Services
from bot.stripe_webhook import MAX_BODY, PATH
from tests.conftest import NOW
from tests.ledger import factories

SECRET = "whsec_test_billing_ops"


def event(event_id: str, kind: str, obj: dict[str, Any], created: int | None = None) -> bytes:
    return json.dumps(
        {
            "id": event_id,
            "object": "event",
            "api_version": "2024-06-20",
            "created": created or int(time.time()),
            "livemode": False,
            "type": kind,
            "data": {"object": obj},
        }
    ).encode()


def intent(
    pi: str, amount: int, invoice: str | None = None, customer: str = "cus_A"
) -> dict[str, Any]:
    return {
        "id": pi,
        "object": "payment_intent",
        "amount": amount,
        "amount_received": amount,
        "currency": "usd",
        "customer": customer,
        "metadata": {"invoice_number": invoice} if invoice else {},
    }


def charge(
    pi: str, amount: int, refunds: Sequence[tuple[str, int]] = (), invoice: str | None = None
) -> dict[str, Any]:
    return {
        "id": f"ch_{pi[3:]}",
        "object": "charge",
        "amount": amount,
        "amount_captured": amount,
        "amount_refunded": sum(a for _, a in refunds),
        "captured": True,
        "currency": "usd",
        "customer": "cus_A",
        "payment_intent": pi,
        "metadata": {"invoice_number": invoice} if invoice else {},
        "refunds": {
            "object": "list",
            "data": [
                {
                    "id": r,
                    "amount": a,
                    "currency": "usd",
                    "status": "succeeded",
                    "created": int(time.time()),
                }
                for r, a in refunds
            ],
        },
    }


class Webhook:
    def __init__(self, url: str, http: aiohttp.ClientSession) -> None:
        self.url, self.http = url, http

    async def post(
        self, body: bytes, *, secret: str = SECRET, age: int = 0, header: str | None = None
    ) -> tuple[int, dict[str, Any]]:
        signature = header
        if signature is None:
            signature = stripe.WebhookSignature.generate_signature_header(
                body.decode(), secret, int(time.time()) - age
            )
        async with self.http.post(
            self.url,
            data=body,
            headers={"Stripe-Signature": signature, "Content-Type": "application/json"},
        ) as response:
            return response.status, await response.json(content_type=None)


@pytest.fixture
def ledger(sqlite_sessions: sessionmaker[Session]) -> sessionmaker[Session]:
    with sqlite_sessions.begin() as session:
        factories.customer(session, "CUS-1")
        factories.open_invoice(session, "CUS-1", "100.00", date(2026, 11, 20))  # INV-000001
        factories.open_invoice(session, "CUS-1", "250.00", date(2026, 12, 20))  # INV-000002
    with sqlite_sessions.begin() as session:
        link_customer(session, "cus_A", "CUS-1", "cli:test", NOW)
    return sqlite_sessions


@pytest.fixture
async def start_webhook() -> AsyncIterator[Callable[..., Awaitable[Webhook]]]:
    servers: list[tuple[uvicorn.Server, asyncio.Task[None]]] = []
    https: list[aiohttp.ClientSession] = []

    async def no_temporal() -> Client:
        raise RuntimeError("Temporal is not running in this test")

    async def start(
        sessions: sessionmaker[Session], temporal: Callable[[], Awaitable[Client]] = no_temporal
    ) -> Webhook:
        services = Services(
            sessions=sessions,
            matrix=load_matrix(CONFIG_DIR),
            cadences=load_cadences(CONFIG_DIR / "cadences.yaml"),
            temporal=temporal,
            clock=lambda: NOW,
        )
        config = Settings(stripe_webhook_secret=SecretStr(SECRET))
        app = create_asgi_app(None, AckFirst(), webhook_routes(config, services))
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.bind(("127.0.0.1", 0))
        server = uvicorn.Server(
            uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off")
        )
        servers.append((server, asyncio.create_task(server.serve(sockets=[sock]))))
        for _ in range(2000):
            if server.started:
                break
            await asyncio.sleep(0.005)
        http = aiohttp.ClientSession()
        https.append(http)
        return Webhook(f"http://127.0.0.1:{sock.getsockname()[1]}{PATH}", http)

    yield start
    for http in https:
        await http.close()
    for server, task in servers:
        server.should_exit = True
        await task


def _state(sessions: sessionmaker[Session]) -> tuple[list[tuple[str, Decimal, str]], int, int]:
    with sessions() as session:
        invoices = [
            (i.number or "", i.balance, i.status.value)
            for i in session.scalars(select(Invoice).order_by(Invoice.id))
        ]
        payments = session.scalar(select(func.count()).select_from(Payment)) or 0
        events = session.scalar(select(func.count()).select_from(StripeEvent)) or 0
    return invoices, payments, events


async def test_forged_stale_oversized_and_unsigned_deliveries_are_refused_and_change_nothing(
    ledger: sessionmaker[Session],
    start_webhook: Callable[..., Awaitable[Webhook]],
    caplog: pytest.LogCaptureFixture,
) -> None:
    hook = await start_webhook(ledger)
    before = _state(ledger)
    body = event("evt_1", "payment_intent.succeeded", intent("pi_1", 10000, "INV-000001"))
    refused = [
        await hook.post(body, secret="whsec_someone_else"),  # forged
        await hook.post(body, age=301),  # stale: older than the five minutes' tolerance
        await hook.post(body, age=-301),  # signed ahead, to be replayed later
        await hook.post(body, header=""),  # unsigned
        await hook.post(body, header="t=abc,v1=zz"),  # garbage header
        await hook.post(
            body.replace(b"10000", b"1"),
            header=stripe.WebhookSignature.generate_signature_header(body.decode(), SECRET),
        ),  # tampered body
        await hook.post(b"x" * (MAX_BODY + 1)),  # too large, signed or not
        await hook.post(b"not json"),  # signed, but not an event
    ]
    assert [status for status, _ in refused] == [400] * len(refused)
    assert all(set(answer) == {"error"} for _, answer in refused)
    assert _state(ledger) == before
    lines = [r.getMessage() for r in caplog.records if r.name == "billing_ops.stripe"]
    assert len(lines) == len(refused)
    assert all("\n" not in line and "Traceback" not in line for line in lines)


async def test_a_payment_applies_once_whatever_delivers_it_and_however_often(
    ledger: sessionmaker[Session], start_webhook: Callable[..., Awaitable[Webhook]]
) -> None:
    hook = await start_webhook(ledger)
    paid = event("evt_pi", "payment_intent.succeeded", intent("pi_7", 10000, "INV-000001"))
    status, answer = await hook.post(paid)
    assert (status, answer["status"]) == (200, "applied"), answer
    # the same event again (Stripe retries), and other events about the same payment
    again = await hook.post(paid)
    same_charge = await hook.post(
        event("evt_ch", "charge.succeeded", charge("pi_7", 10000, invoice="INV-000001"))
    )
    assert again == (200, {"status": "duplicate", "message": "already received; nothing changed"})
    assert same_charge[0] == 200 and "already recorded" in same_charge[1]["message"]
    # another event under an id the ledger holds (another type or object) is not that
    # event again: refused, not answered as a duplicate while its money is dropped
    other = event("evt_pi", "payment_intent.succeeded", intent("pi_8", 5000))
    status, answer = await hook.post(other)
    assert status == 400 and "id: event evt_pi is already received as " in answer["error"], answer
    invoices, payments, events = _state(ledger)
    assert invoices[0] == ("INV-000001", Decimal("0.00"), "paid")
    assert (payments, events) == (1, 2)


async def test_a_refund_before_its_payment_is_parked_and_the_end_state_is_the_same(
    ledger: sessionmaker[Session], start_webhook: Callable[..., Awaitable[Webhook]]
) -> None:
    hook = await start_webhook(ledger)
    refunded = event(
        "evt_r", "charge.refunded", charge("pi_9", 10000, [("re_1", 4000)], invoice="INV-000001")
    )
    paid = event("evt_p", "payment_intent.succeeded", intent("pi_9", 10000, "INV-000001"))
    status, answer = await hook.post(refunded)
    assert (status, answer["status"]) == (200, "parked"), answer
    assert _state(ledger)[1] == 0
    status, answer = await hook.post(paid)
    assert (status, answer["status"]) == (200, "applied")
    with ledger() as session:
        payment = session.scalar(select(Payment).where(Payment.processor_id == "pi_9"))
        assert payment is not None and payment.refunded == Decimal("40.00")
        statuses = {
            r.id: r.status for r in session.execute(select(StripeEvent.id, StripeEvent.status))
        }
    assert {k: v.value for k, v in statuses.items()} == {"evt_r": "applied", "evt_p": "applied"}
    invoices, _, _ = _state(ledger)
    assert invoices[0] == ("INV-000001", Decimal("40.00"), "open")
    # both again, in order this time: nothing changes
    assert (await hook.post(paid))[1]["status"] == "duplicate"
    assert (await hook.post(refunded))[1]["status"] == "duplicate"
    assert _state(ledger)[0] == invoices


async def test_an_unlinked_stripe_customer_waits_until_it_is_linked(
    ledger: sessionmaker[Session], start_webhook: Callable[..., Awaitable[Webhook]]
) -> None:
    hook = await start_webhook(ledger)
    status, answer = await hook.post(
        event("evt_u", "payment_intent.succeeded", intent("pi_u", 25000, customer="cus_NEW"))
    )
    assert (status, answer["status"]) == (200, "parked")
    with ledger.begin() as session:
        released = link_customer(session, "cus_NEW", "CUS-1", "cli:ana", NOW)
    assert [r.status for r in released] == ["applied"]
    invoices, payments, _ = _state(ledger)
    assert payments == 1
    assert invoices[0][1] == Decimal("0.00")  # oldest first: INV-000001, then 150 on the next
    assert invoices[1][1] == Decimal("100.00")


async def test_a_card_dispute_holds_the_invoice_and_a_lost_one_takes_the_cash_back(
    ledger: sessionmaker[Session], start_webhook: Callable[..., Awaitable[Webhook]]
) -> None:
    hook = await start_webhook(ledger)
    dispute = {
        "id": "dp_1",
        "object": "dispute",
        "amount": 10000,
        "currency": "usd",
        "charge": "ch_d",
        "payment_intent": "pi_d",
        "reason": "fraudulent",
        "status": "needs_response",
    }
    # the dispute arrives before the payment: parked, then opened when the payment lands
    assert (await hook.post(event("evt_d1", "charge.dispute.created", dispute)))[1]["status"] == (
        "parked"
    )
    await hook.post(
        event("evt_d0", "payment_intent.succeeded", intent("pi_d", 10000, "INV-000001"))
    )
    with ledger() as session:
        held = session.get(Dispute, "STRIPE-dp_1")
        assert held is not None and held.status == DisputeStatus.OPEN
    lost = {**dispute, "status": "lost"}
    status, answer = await hook.post(event("evt_d2", "charge.dispute.closed", lost))
    assert status == 200 and "closed (lost)" in answer["message"]
    with ledger() as session:
        closed = session.get(Dispute, "STRIPE-dp_1")
        invoice = session.scalar(select(Invoice).where(Invoice.number == "INV-000001"))
        assert closed is not None and closed.status == DisputeStatus.RESOLVED
        assert invoice is not None and (invoice.status, invoice.balance) == (
            InvoiceStatus.OPEN,
            Decimal("100.00"),
        )


async def test_a_failed_card_payment_reaches_the_collections_cadence(
    ledger: sessionmaker[Session],
    start_webhook: Callable[..., Awaitable[Webhook]],
    time_skipping_env: WorkflowEnvironment,
) -> None:
    async def temporal() -> Client:
        return time_skipping_env.client

    hook = await start_webhook(ledger, temporal)
    failed = {
        "id": "in_1",
        "object": "invoice",
        "amount_due": 25000,
        "currency": "usd",
        "customer": "cus_A",
        "metadata": {},
        "last_payment_error": {"code": "card_declined", "decline_code": "insufficient_funds"},
    }
    status, answer = await hook.post(event("evt_f", "invoice.payment_failed", failed))
    assert (status, answer["status"]) == (200, "recorded"), answer
    handle = time_skipping_env.client.get_workflow_handle(workflow_id("CUS-1"))
    history = await handle.fetch_history()
    signals = [
        e.workflow_execution_signaled_event_attributes
        for e in history.events
        if e.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED
    ]
    assert [s.signal_name for s in signals] == ["account_changed"]
    assert b"card payment failed (insufficient_funds)" in signals[0].input.payloads[0].data


async def test_metadata_naming_another_customers_invoice_pays_only_the_linked_customer(
    ledger: sessionmaker[Session], start_webhook: Callable[..., Awaitable[Webhook]]
) -> None:
    with ledger.begin() as session:
        factories.customer(session, "CUS-2")
        factories.open_invoice(session, "CUS-2", "100.00", date(2026, 10, 1))  # INV-000003
    hook = await start_webhook(ledger)
    status, answer = await hook.post(
        event("evt_x", "payment_intent.succeeded", intent("pi_x", 10000, "INV-000003"))
    )
    assert status == 200 and "INV-000001" in answer["message"], answer
    invoices, _, _ = _state(ledger)
    assert invoices[2] == ("INV-000003", Decimal("100.00"), "open")


async def test_a_refund_in_another_currency_than_its_payment_is_refused(
    ledger: sessionmaker[Session], start_webhook: Callable[..., Awaitable[Webhook]]
) -> None:
    hook = await start_webhook(ledger)
    await hook.post(
        event("evt_pc", "payment_intent.succeeded", intent("pi_c", 10000, "INV-000001"))
    )
    refunded = charge("pi_c", 10000, [("re_c", 4000)], invoice="INV-000001")
    refunded["currency"] = "jpy"  # ¥4,000 must not be taken as $4,000 (or as $40.00)
    refunded["refunds"]["data"][0]["currency"] = "jpy"
    status, answer = await hook.post(event("evt_rc", "charge.refunded", refunded))
    assert (status, answer["status"]) == (200, "ignored"), answer
    assert "in JPY, but payment pi_c is in USD" in answer["message"]
    with ledger() as session:
        payment = session.scalar(select(Payment).where(Payment.processor_id == "pi_c"))
        assert payment is not None and payment.refunded == 0


def failed_refund(pi: str, refund: str, amount: int, created: int) -> dict[str, Any]:
    """Stripe's refund object once the card network has returned the money."""
    return {
        "id": refund,
        "object": "refund",
        "amount": amount,
        "charge": f"ch_{pi[3:]}",
        "payment_intent": pi,
        "created": created,
        "currency": "usd",
        "status": "failed",
        "failure_reason": "expired_or_canceled_card",
    }


def _refunds(sessions: sessionmaker[Session], pi: str) -> tuple[Decimal, list[Decimal]]:
    with sessions() as session:
        payment = session.scalar(select(Payment).where(Payment.processor_id == pi))
        assert payment is not None
        rows = session.scalars(
            select(Refund.amount).where(Refund.payment_id == payment.id).order_by(Refund.id)
        )
        return payment.refunded, list(rows)


async def test_a_failed_refund_is_taken_back_and_its_cash_pays_the_invoice_again(
    ledger: sessionmaker[Session], start_webhook: Callable[..., Awaitable[Webhook]]
) -> None:
    hook = await start_webhook(ledger)
    made = int(time.time()) - 5 * 86400
    await hook.post(event("evt_fp", "payment_intent.succeeded", intent("pi_f", 10000)))
    refunded = charge("pi_f", 10000, [("re_f", 4000)], invoice="INV-000001")
    assert (await hook.post(event("evt_fr", "charge.refunded", refunded, made)))[0] == 200
    assert _state(ledger)[0][0] == ("INV-000001", Decimal("40.00"), "open")
    status, answer = await hook.post(
        event(
            "evt_ff",
            "charge.refund.updated",
            failed_refund("pi_f", "re_f", 4000, made),
            made + 2 * 86400,
        )
    )
    assert (status, answer["status"]) == (200, "applied"), answer
    assert "back on pi_f, applied to INV-000001 40.00" in answer["message"]
    assert _state(ledger)[0][0] == ("INV-000001", Decimal("0.00"), "paid")
    assert _refunds(ledger, "pi_f") == (Decimal("0.00"), [Decimal("40.00"), Decimal("-40.00")])
    # the same failure under Stripe's newer event, and the charge.refunded of before the
    # failure delivered late without its list (it still counts 40.00 refunded): no change
    again = await hook.post(
        event(
            "evt_ff2", "refund.failed", failed_refund("pi_f", "re_f", 4000, made), made + 2 * 86400
        )
    )
    assert again[1]["message"] == "refund re_f failed: already taken back"
    stale = charge("pi_f", 10000, [("re_f", 4000)], invoice="INV-000001")
    stale["refunds"]["data"] = []
    assert (await hook.post(event("evt_fr2", "charge.refunded", stale, made + 1)))[0] == 200
    assert _refunds(ledger, "pi_f")[0] == Decimal("0.00")
    # a new refund after the failure counts: Stripe's amount_refunded excludes the failed one
    after = charge("pi_f", 10000, [("re_g", 1500)], invoice="INV-000001")
    await hook.post(event("evt_fr3", "charge.refunded", after))
    assert _refunds(ledger, "pi_f")[0] == Decimal("15.00")
    assert _state(ledger)[0][0] == ("INV-000001", Decimal("15.00"), "open")
    with ledger() as session:
        assert violations(session) == []


async def test_a_failure_before_its_refund_records_the_refund_and_takes_it_back(
    ledger: sessionmaker[Session], start_webhook: Callable[..., Awaitable[Webhook]]
) -> None:
    hook = await start_webhook(ledger)
    made = int(time.time()) - 86400
    await hook.post(event("evt_gp", "payment_intent.succeeded", intent("pi_g", 10000)))
    status, answer = await hook.post(
        event("evt_gf", "refund.failed", failed_refund("pi_g", "re_h", 2500, made))
    )
    assert (status, answer["status"]) == (200, "applied"), answer
    assert _refunds(ledger, "pi_g") == (Decimal("0.00"), [Decimal("25.00"), Decimal("-25.00")])
    late = charge("pi_g", 10000, [("re_h", 2500)], invoice="INV-000001")
    assert (
        "re_h again"
        in (await hook.post(event("evt_gr", "charge.refunded", late, made)))[1]["message"]
    )
    assert _refunds(ledger, "pi_g")[0] == Decimal("0.00")
    assert _state(ledger)[0][0] == ("INV-000001", Decimal("0.00"), "paid")
    # a refund that is only pending or succeeded changes nothing; one in yen is refused
    pending = failed_refund("pi_g", "re_i", 1000, made) | {"status": "pending"}
    assert (
        "is 'pending': nothing to do"
        in (await hook.post(event("evt_gu", "refund.updated", pending)))[1]["message"]
    )
    yen = failed_refund("pi_g", "re_h", 2500, made) | {"currency": "jpy"}
    refused = (await hook.post(event("evt_gy", "refund.failed", yen)))[1]
    assert (
        refused["status"] == "ignored"
        and "in JPY, but payment pi_g is in USD" in refused["message"]
    )
    with ledger() as session:
        assert violations(session) == []


async def test_a_lost_chargeback_is_not_counted_as_a_refund_the_charge_announces(
    ledger: sessionmaker[Session], start_webhook: Callable[..., Awaitable[Webhook]]
) -> None:
    """100.00 paid, 30.00 refunded, then the rest disputed and lost; the dispute's events
    are handled first. Stripe's ``amount_refunded`` (30.00) never counts the chargeback, so
    the refund must still be recorded: 100.00 back in all, not 70.00."""
    hook = await start_webhook(ledger)
    await hook.post(event("evt_cp", "payment_intent.succeeded", intent("pi_cb", 10000)))
    dispute = {
        "id": "dp_cb",
        "object": "dispute",
        "amount": 7000,
        "currency": "usd",
        "charge": "ch_cb",
        "payment_intent": "pi_cb",
        "reason": "fraudulent",
        "status": "lost",
    }
    status, answer = await hook.post(event("evt_cd", "charge.dispute.closed", dispute))
    assert (status, answer["status"]) == (200, "recorded"), answer
    refunded = charge("pi_cb", 10000, [("re_cb", 3000)])
    status, answer = await hook.post(event("evt_cr", "charge.refunded", refunded))
    assert (status, answer["status"]) == (200, "applied"), answer
    assert _refunds(ledger, "pi_cb") == (Decimal("100.00"), [Decimal("70.00"), Decimal("30.00")])
    with ledger() as session:
        assert violations(session) == []


def _product_refund(sessions: sessionmaker[Session], pi: str, refund_id: str, amount: str) -> str:
    """A refund recorded from the product (``billing-ops payments refund``): what it said."""
    refund = RefundIn(refund_id, pi, Decimal(amount), "customer asked", NOW)
    try:
        with sessions.begin() as session:
            result = refund_payment(session, refund, "cli:ana")
    except LedgerError as refused:
        return f"refused: {refused}"
    return "already" if result.already_recorded else "done"


async def test_a_refund_made_in_the_product_is_the_stripe_refund_it_is(
    ledger: sessionmaker[Session], start_webhook: Callable[..., Awaitable[Webhook]]
) -> None:
    """A refund of a card payment recorded in the product is recorded under its Stripe
    refund id: Stripe's later snapshots neither refund it again nor refuse a refund Stripe
    made after it, listed or not."""
    hook = await start_webhook(ledger)
    await hook.post(event("evt_mp", "payment_intent.succeeded", intent("pi_m", 10000)))
    # not tied to Stripe: a snapshot could not tell it from a later refund of Stripe's
    said = _product_refund(ledger, "pi_m", "manual-1", "30.00")
    assert said.startswith("refused: processor_id: payment pi_m was collected by Stripe"), said
    assert _refunds(ledger, "pi_m") == (Decimal("0.00"), [])
    assert _product_refund(ledger, "pi_m", "re_m1", "30.00") == "done"
    listed = charge("pi_m", 10000, [("re_m1", 3000)])
    answer = (await hook.post(event("evt_m1", "charge.refunded", listed)))[1]
    assert answer["message"] == "refunds on pi_m: re_m1 again", answer
    # a later refund of Stripe's, announced without the list (amount_refunded 60.00)
    later = charge("pi_m", 10000, [("re_m1", 3000), ("re_m2", 3000)])
    later["refunds"]["data"] = []
    await hook.post(event("evt_m2", "charge.refunded", later))
    assert _refunds(ledger, "pi_m") == (Decimal("60.00"), [Decimal("30.00"), Decimal("30.00")])
    # re_m2 is in the ledger without its id now: recorded by hand it could be counted twice
    said = _product_refund(ledger, "pi_m", "re_m2", "30.00")
    assert "without their ids, which may include re_m2" in said, said
    assert _product_refund(ledger, "pi_m", "re_m1", "30.00") == "already"
    # a third refund, listed: recorded once, by its id
    third = charge("pi_m", 10000, [("re_m1", 3000), ("re_m2", 3000), ("re_m3", 1000)])
    await hook.post(event("evt_m3", "charge.refunded", third))
    assert _refunds(ledger, "pi_m")[0] == Decimal("70.00")
    assert _state(ledger)[0][0] == ("INV-000001", Decimal("70.00"), "open")
    with ledger() as session:
        assert violations(session) == []


@pytest.mark.parametrize("front", ["t=+{ahead}", "t= {ahead}"])
async def test_a_signature_dated_ahead_behind_a_second_timestamp_is_refused(
    ledger: sessionmaker[Session], start_webhook: Callable[..., Awaitable[Webhook]], front: str
) -> None:
    """A delivery signed an hour ahead (to be replayed then) with a plain ``t`` of now added
    after its own: the stripe package reads the first ``t`` with ``int()`` (``+``, a space,
    full-width digits) and finds the signature good, and the check of the date read the
    second. Refused: the header is not Stripe's one ``t=`` and its signatures."""
    hook = await start_webhook(ledger)
    before = _state(ledger)
    body = event("evt_9", "payment_intent.succeeded", intent("pi_9", 10000, "INV-000001"))
    ahead = int(time.time()) + 3600
    signed = stripe.WebhookSignature.generate_signature_header(body.decode(), SECRET, ahead)
    v1 = signed.split(",", 1)[1]
    header = ",".join([front.format(ahead=ahead), f"t={int(time.time())}", v1])
    status, answer = await hook.post(body, header=header)
    assert status == 400, answer
    assert _state(ledger) == before
