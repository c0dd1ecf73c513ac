"""Entitlements: what a customer may use, kept by an entitlement service.

Provisioning talks to the service through :class:`EntitlementService`. The
default, :class:`LocalEntitlements`, keeps them in the ledger's
``entitlements`` table; a product with its own entitlement service gets an
adapter with the same method. Applying is declarative (bring each product
to this many seats), so applying the same grants twice changes nothing the
second time, whichever the service.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Protocol

from pydantic import BaseModel, ConfigDict
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from activities.ledger import audit
from activities.ledger.db import transaction
from activities.ledger.models import Entitlement, EntitlementStatus


class Grant(BaseModel):
    """A product (plan or add-on code) and the seats it covers; 0 for a metered add-on."""

    model_config = ConfigDict(frozen=True)

    product: str
    quantity: int


class EntitlementChange(BaseModel):
    """One product whose entitlement changed: seats before (``None``: new) and after."""

    model_config = ConfigDict(frozen=True)

    product: str
    before: int | None
    after: int
    status: str


class EntitlementService(Protocol):
    def apply(
        self,
        customer_id: str,
        subscription_id: str,
        grants: Sequence[Grant],
        *,
        actor: str,
        now: datetime,
    ) -> list[EntitlementChange]:
        """Make the subscription's entitlements exactly ``grants``: each product at its
        quantity, and products the subscription no longer has (an upgraded plan) ended.
        Return only what actually changed."""
        ...


class LocalEntitlements:
    """Entitlements in the ledger's table, one row per customer and product, audited.

    A suspended entitlement (collections suspended the account) keeps its
    status: an order changes what the customer has, not whether they may use it.
    """

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self.sessions = sessions

    def apply(
        self,
        customer_id: str,
        subscription_id: str,
        grants: Sequence[Grant],
        *,
        actor: str,
        now: datetime,
    ) -> list[EntitlementChange]:
        changes = []
        with transaction(self.sessions) as session:
            rows = {
                row.product: row
                for row in session.scalars(
                    select(Entitlement).where(Entitlement.customer_id == customer_id)
                )
            }
            for grant in grants:
                row = rows.get(grant.product)
                if row is None:
                    row = Entitlement(
                        customer_id=customer_id,
                        subscription_id=subscription_id,
                        product=grant.product,
                        quantity=grant.quantity,
                        status=EntitlementStatus.ACTIVE,
                        active_from=now,
                        updated_at=now,
                    )
                    session.add(row)
                    before = None
                elif (
                    row.quantity == grant.quantity
                    and row.subscription_id == subscription_id
                    and row.status != EntitlementStatus.ENDED
                ):
                    continue
                else:
                    before = row.quantity
                    row.quantity = grant.quantity
                    row.subscription_id = subscription_id
                    row.updated_at = now
                    if row.status == EntitlementStatus.ENDED:  # bought again
                        row.status, row.active_from, row.active_to = (
                            EntitlementStatus.ACTIVE,
                            now,
                            None,
                        )
                change = EntitlementChange(
                    product=grant.product,
                    before=before,
                    after=grant.quantity,
                    status=row.status.value,
                )
                audit.record(
                    session,
                    at=now,
                    actor=actor,
                    action="entitlement.granted" if before is None else "entitlement.changed",
                    subject_type="customer",
                    subject_id=customer_id,
                    before=None
                    if before is None
                    else {"product": grant.product, "quantity": before},
                    after={
                        "product": grant.product,
                        "quantity": grant.quantity,
                        "subscription_id": subscription_id,
                    },
                )
                changes.append(change)
            granted = {grant.product for grant in grants}
            for row in rows.values():
                if (
                    row.subscription_id == subscription_id
                    and row.product not in granted
                    and row.status != EntitlementStatus.ENDED
                ):
                    changes.append(self._end(session, row, actor, now))
        return changes

    @staticmethod
    def _end(session: Session, row: Entitlement, actor: str, now: datetime) -> EntitlementChange:
        before = row.quantity
        row.status, row.active_to, row.updated_at = EntitlementStatus.ENDED, now, now
        audit.record(
            session,
            at=now,
            actor=actor,
            action="entitlement.ended",
            subject_type="customer",
            subject_id=row.customer_id,
            before={"product": row.product, "quantity": before},
            after={"product": row.product, "status": row.status},
        )
        return EntitlementChange(product=row.product, before=before, after=0, status="ended")
