"""Order tests: the rules from config/, a ledger with the customers the corpus refers to,
and the Temporal servers for the workflow tests (see tests/temporal_fixtures.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from activities.ledger.db import make_engine, migrate, session_factory
from activities.ledger.models import (
    Base,
    BillingContact,
    ContractType,
    Interval,
    ItemKind,
    Order,
    OrderStatus,
    Subscription,
    SubscriptionItem,
    SubscriptionStatus,
    TaxId,
)
from activities.orders.validation import OrderRules, load_order_rules
from activities.temporal_runtime import binary_path
from tests.ledger import factories

#: The corpus is validated as of this day (its dates are fixed).
TODAY = date(2026, 11, 2)


@pytest.fixture
async def env() -> AsyncIterator[WorkflowEnvironment]:
    """A time-skipping server of the test's own: workflow and customer ids never collide
    with another test's (each ledger starts its customer numbers at CUS-000001)."""
    environment = await WorkflowEnvironment.start_time_skipping(
        data_converter=pydantic_data_converter,
        test_server_existing_path=binary_path("temporal-test-server"),
    )
    yield environment
    await environment.shutdown()


@pytest.fixture(scope="session")
def rules() -> OrderRules:
    return load_order_rules()


def seed_corpus_ledger(session: Session) -> None:
    """The accounts the corpus names: CUS-PO (requires POs, EIN 91-1144442 on file, no
    subscription: new orders name it), CUS-USD (requires POs, billed at ap@usd-customer.example,
    EIN 91-1144442 on file; opportunity 006-GLOBEX-2026 provisioned as ORD-0900, 006-REFUSED
    rejected as ORD-0899) with SUB-1 (business, 10 seats, monthly, 25.00) and the cancelled
    SUB-2; CUS-EUR in Germany."""
    factories.customer(session, "CUS-USD", po_required=True)
    session.add(BillingContact(customer_id="CUS-USD", name="AP", email="ap@usd-customer.example"))
    session.add(TaxId(customer_id="CUS-USD", scheme="us_ein", value="91-1144442"))
    # CUS-USD's twin without a subscription, for new orders (one to CUS-USD would be
    # refused as active_subscription: SUB-1 runs over their terms)
    factories.customer(session, "CUS-PO", po_required=True)
    session.add(TaxId(customer_id="CUS-PO", scheme="us_ein", value="91-1144442"))
    opened = datetime(2026, 10, 1, tzinfo=UTC)
    for order_id, opportunity, order_status in (
        ("ORD-0900", "006-GLOBEX-2026", OrderStatus.PROVISIONED),
        ("ORD-0899", "006-REFUSED", OrderStatus.REJECTED),
    ):
        session.add(
            Order(
                id=order_id,
                customer_id="CUS-USD",
                status=order_status,
                payload={"order_id": order_id},
                received_at=opened,
                updated_at=opened,
                opportunity_id=opportunity,
            )
        )
    factories.customer(
        session,
        "CUS-EUR",
        currency="EUR",
        country="DE",
        region=None,
        postal_code="10117",
        address_line1="Friedrichstr. 1",
        city="Berlin",
        timezone="Europe/Berlin",
    )
    start = datetime(2026, 10, 1, tzinfo=UTC)
    for sub_id, status in (
        ("SUB-1", SubscriptionStatus.ACTIVE),
        ("SUB-2", SubscriptionStatus.CANCELLED),
    ):
        session.add(
            Subscription(
                id=sub_id,
                customer_id="CUS-USD",
                plan="business",
                interval=Interval.MONTH,
                contract_type=ContractType.SELF_SERVE_MONTHLY,
                status=status,
                currency="USD",
                term_start=start,
                term_end=datetime(2027, 10, 1, tzinfo=UTC),
                billing_anchor=start,
                created_at=start,
                items=[
                    SubscriptionItem(
                        item_code="business",
                        kind=ItemKind.PLAN,
                        quantity=10,
                        unit_price=Decimal("25.00"),
                    )
                ],
            )
        )
    session.flush()


@pytest.fixture(scope="module")
def corpus_ledger(tmp_path_factory: pytest.TempPathFactory) -> Iterator[sessionmaker[Session]]:
    """One seeded SQLite ledger per module: validation only reads (the tests check that)."""
    engine = make_engine(f"sqlite:///{tmp_path_factory.mktemp('orders') / 'ledger.sqlite'}")
    migrate(engine)
    sessions = session_factory(engine)
    with sessions.begin() as session:
        seed_corpus_ledger(session)
    yield sessions
    engine.dispose()


def row_counts(sessions: sessionmaker[Session]) -> dict[str, int]:
    """Rows in every ledger table: equal before and after means nothing was written."""
    with sessions() as session:
        return {
            table.name: session.scalar(select(func.count()).select_from(table)) or 0
            for table in Base.metadata.sorted_tables
        }
