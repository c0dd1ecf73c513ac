"""``among``: a batch's ids as one array parameter find exactly the rows they name."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from activities.ledger.bulk import among
from activities.ledger.db import transaction
from activities.ledger.models import Customer
from tests.ledger import factories

#: Ids that a careless array literal would split, unquote, or read as NULL.
ODD = ["a,b", 'quote"d', "back\\slash", "NULL", "{brace}", " spaced ", "", "é", "plain"]


def test_among_finds_exactly_the_ids_named_however_they_are_written(
    sessions: sessionmaker[Session],
) -> None:
    with transaction(sessions) as session:
        for customer_id in [*ODD, "a", "b", "quote", "back", "brace"]:
            factories.customer(session, customer_id)
    with sessions() as session:
        for asked in (ODD, ODD[:1], ["a", "missing"], ["null"]):
            found = session.scalars(select(Customer.id).where(among(session, Customer.id, asked)))
            assert sorted(found) == sorted(set(asked) & {*ODD, "a"}), asked
