"""Search attributes: what lets an analyst filter workflows in the Temporal UI (issue 18).

``CustomerId = 'CUS-0042'``, or "collections in final-notice stage over
$10,000": ``CollectionsStage = 'final_notice' AND Currency = 'USD' AND
AmountOverdueMinor > 1000000``. The amount is an Int of the currency's minor
unit (cents for USD, yen for JPY): exact, where a Double would round and a
Keyword would compare as text.

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
from weakref import WeakKeyDictionary

from temporalio.api.operatorservice.v1 import ListSearchAttributesRequest
from temporalio.client import Client
from temporalio.common import SearchAttributeKey, SearchAttributePair, TypedSearchAttributes
from temporalio.service import RPCError, ServiceClient

log = logging.getLogger("billing_ops.temporal")

CUSTOMER_ID = SearchAttributeKey.for_keyword("CustomerId")
CURRENCY = SearchAttributeKey.for_keyword("Currency")
AMOUNT_OVERDUE_MINOR = SearchAttributeKey.for_int("AmountOverdueMinor")
COLLECTIONS_STAGE = SearchAttributeKey.for_keyword("CollectionsStage")

ALL: tuple[SearchAttributeKey[str] | SearchAttributeKey[int], ...] = (
    CUSTOMER_ID,
    CURRENCY,
    AMOUNT_OVERDUE_MINOR,
    COLLECTIONS_STAGE,
)

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


async def start_attributes(client: Client, customer_id: str) -> TypedSearchAttributes | None:
    """The attributes a workflow of ``customer_id`` starts with, or ``None`` where the
    namespace does not know them (the workflow then upserts none)."""
    if not await registered(client):
        return None
    return TypedSearchAttributes([SearchAttributePair(CUSTOMER_ID, customer_id)])
