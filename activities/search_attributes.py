"""Search attributes: what lets an analyst filter workflows in the Temporal UI (issue 18).

``CustomerId = 'CUS-0042'``, or "collections in final-notice stage over
$10,000": ``CollectionsStage = 'final_notice' AND Currency = 'USD' AND
AmountOverdueMinor > 1000000``. Amounts are Ints of the currency's minor
unit (cents for USD, yen for JPY): exact, where a Double would round and a
Keyword would compare as text.

Which workflow carries which (docs/temporal.md has the table): collections
``CustomerId, CollectionsStage, Currency, AmountOverdueMinor``; an order
``OrderId, CustomerId, Currency, AmountMinor, Stage``; a dispute ``DisputeId,
CustomerId, Currency, AmountMinor, Stage``; a close ``Period, Stage``; a bill
run ``RunDate, Stage, InvoicesIssued``. ``Stage`` is the workflow's own state
(an order's ``exception``, a dispute's ``awaiting_approval``, a close's
``ready``), so ``WorkflowType`` says which vocabulary it is. The dev server's
SQLite visibility has room for 3 Int and 10 Keyword attributes: this is 3 and 8.

Custom attributes exist only where someone registered them: the embedded dev
server registers them at start (``--search-attribute``), a cluster's operator
registers them once (``temporal operator search-attribute create``), and the
time-skipping test server has none. A workflow whose command names an
unregistered attribute fails its task, so starters set them only where the
namespace knows them (:func:`start_attributes`), and a workflow upserts only
when it was started with them.
"""

from __future__ import annotations

import logging
from decimal import Decimal
from typing import Any
from weakref import WeakKeyDictionary

from temporalio.api.operatorservice.v1 import ListSearchAttributesRequest
from temporalio.client import Client
from temporalio.common import SearchAttributeKey, SearchAttributePair, TypedSearchAttributes
from temporalio.service import RPCError, ServiceClient

from activities.billing.money import minor_digits

log = logging.getLogger("billing_ops.temporal")

CUSTOMER_ID = SearchAttributeKey.for_keyword("CustomerId")
CURRENCY = SearchAttributeKey.for_keyword("Currency")
AMOUNT_OVERDUE_MINOR = SearchAttributeKey.for_int("AmountOverdueMinor")
COLLECTIONS_STAGE = SearchAttributeKey.for_keyword("CollectionsStage")
ORDER_ID = SearchAttributeKey.for_keyword("OrderId")
DISPUTE_ID = SearchAttributeKey.for_keyword("DisputeId")
PERIOD = SearchAttributeKey.for_keyword("Period")
RUN_DATE = SearchAttributeKey.for_keyword("RunDate")
STAGE = SearchAttributeKey.for_keyword("Stage")
AMOUNT_MINOR = SearchAttributeKey.for_int("AmountMinor")
INVOICES_ISSUED = SearchAttributeKey.for_int("InvoicesIssued")

ALL: tuple[SearchAttributeKey[str] | SearchAttributeKey[int], ...] = (
    CUSTOMER_ID,
    CURRENCY,
    AMOUNT_OVERDUE_MINOR,
    COLLECTIONS_STAGE,
    ORDER_ID,
    DISPUTE_ID,
    PERIOD,
    RUN_DATE,
    STAGE,
    AMOUNT_MINOR,
    INVOICES_ISSUED,
)
NAMES = frozenset(key.name for key in ALL)

#: Whether each namespace (by connection, then name) knows every attribute: asked once per
#: connection, since each start would otherwise cost one more call to the server.
_registered: WeakKeyDictionary[ServiceClient, dict[str, bool]] = WeakKeyDictionary()


def dev_server_flags() -> list[str]:
    """``temporal server start-dev`` arguments that register every attribute."""
    return [
        flag
        for key in ALL
        for flag in ("--search-attribute", f"{key.name}={key.indexed_value_type.name.title()}")
    ]


async def registered(client: Client) -> bool:
    """Whether the client's namespace knows every attribute (the time-skipping server, which
    has no operator service, and a cluster where nobody registered them do not)."""
    known = _registered.setdefault(client.service_client, {})
    if client.namespace not in known:
        try:
            listed = await client.operator_service.list_search_attributes(
                ListSearchAttributesRequest(namespace=client.namespace)
            )
        except RPCError as error:
            log.info("search attributes not available (%s): workflows start without", error)
            known[client.namespace] = False
        else:
            names = set(listed.custom_attributes) | set(listed.system_attributes)
            missing = [key.name for key in ALL if key.name not in names]
            if missing:
                log.warning(
                    "search attributes %s are not registered in namespace %s; register them "
                    "(temporal operator search-attribute create) to filter in the UI",
                    ", ".join(missing),
                    client.namespace,
                )
            known[client.namespace] = not missing
    return known[client.namespace]


async def start_attributes(
    client: Client, *pairs: SearchAttributePair[Any]
) -> TypedSearchAttributes | None:
    """The attributes a workflow starts with, or ``None`` where the namespace does not
    know them (the workflow then upserts none: it keeps current only what it started with)."""
    if not await registered(client):
        return None
    return TypedSearchAttributes(list(pairs))


def minor_units(amount: Decimal, currency: str) -> int:
    """``amount`` in ``currency``'s minor unit (cents), exactly: computed outside the
    workflow sandbox, where babel knows the currency."""
    return int(amount.scaleb(minor_digits(currency)).to_integral_exact())
