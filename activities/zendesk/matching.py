"""Which customer a ticket is from: by the requester's email, or the Zendesk organization.

Only identities that the customer cannot type into a ticket count: the
requester's address (Zendesk verifies it) must be one of the account's
billing contacts, or the requester's organization (set by Zendesk admins)
must carry the customer id as its external id or the customer's legal name.
An account mentioned in the ticket text is never used: anyone can write
"CUS-0002".
"""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from activities.ledger.models import BillingContact, Customer


def match_customer(
    session: Session,
    requester_email: str | None,
    organization_external_id: str | None = None,
    organization_name: str | None = None,
) -> str | None:
    """The customer id, or None when no identity matches exactly one account."""
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
