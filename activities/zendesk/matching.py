"""Which customer a ticket is from: by the requester's email, or the Zendesk organization.

Only identities that the customer cannot type into a ticket count: the
requester's address (Zendesk verifies it) must be one of the account's
billing contacts, or the requester's organization (set by Zendesk admins)
must carry the customer id as its external id or the customer's legal name.
An account mentioned in the ticket text is never used: anyone can write
"CUS-0002".
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from activities.ledger.models import BillingContact, Customer


@dataclass(frozen=True, slots=True)
class Match:
    """The customer a ticket is from, and how we know: only ``email`` (a verified billing
    contact of exactly one account) lets a reply go out without a person."""

    customer_id: str | None
    by: Literal["email", "organization"] | None = None


def match_customer(
    session: Session,
    requester_email: str | None,
    organization_external_id: str | None = None,
    organization_name: str | None = None,
) -> Match:
    """The customer, or no customer when no identity matches exactly one account."""
    customer_id = _match(session, requester_email, organization_external_id, organization_name)
    if customer_id is None:
        return Match(None)
    return Match(customer_id, "email" if _by_email(session, requester_email) else "organization")


def _by_email(session: Session, requester_email: str | None) -> bool:
    if not requester_email:
        return False
    owners = session.scalars(
        select(BillingContact.customer_id)
        .where(func.lower(BillingContact.email) == requester_email.strip().lower())
        .distinct()
    ).all()
    return len(owners) == 1


def _match(
    session: Session,
    requester_email: str | None,
    organization_external_id: str | None,
    organization_name: str | None,
) -> str | None:
    if requester_email:
        owners = session.scalars(
            select(BillingContact.customer_id)
            .where(func.lower(BillingContact.email) == requester_email.strip().lower())
            .distinct()
        ).all()
        if len(owners) == 1:
            return owners[0]
        if len(owners) > 1:
            return None  # one address on several accounts: a person must decide which
    if organization_external_id and session.get(Customer, organization_external_id):
        return organization_external_id
    if organization_name:
        named = session.scalars(
            select(Customer.id).where(
                func.lower(Customer.legal_name) == organization_name.strip().lower()
            )
        ).all()
        if len(named) == 1:
            return named[0]
    return None
