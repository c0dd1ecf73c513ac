"""One identity per person: every actor string resolves to one person of the directory, or is
refused, and separation of duties compares the people, not the strings (issue 12, item 5)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from activities.approvals import people
from activities.approvals.matrix import ApprovalMatrix, ApprovalRoute, DecisionRefused, can_decide

ANA_NAMES = [
    "ana",
    "Ana",
    "ANA",
    " ana",
    "ana\t ",
    "cli:ana",
    "CLI:ana",
    "slack:U0ANALYST1",
    "U0ANALYST1",
    "u0analyst1",
    "cli:slack:U0ANALYST1",  # what `--as slack:U0ANALYST1` used to record
    "ana.ortiz@example.com",
    "email:Ana.Ortiz@Example.COM",
    "slack:ana",  # how the bot records her now
    "cli: slack: U0ANALYST1",
]


@pytest.mark.parametrize("name", ANA_NAMES)
def test_every_name_of_ana_is_ana(matrix: ApprovalMatrix, name: str) -> None:
    assert people.resolve(matrix.people, name).handle == "ana"
    assert matrix.person(name) is not None and matrix.person(name) == matrix.resolve("ana")


@pytest.mark.parametrize(
    ("name", "why"),
    [
        ("аna", "U+0430 (CYRILLIC SMALL LETTER A)"),  # Cyrillic а, looks like ana
        ("ａｎａ", "U+FF41 (FULLWIDTH LATIN SMALL LETTER A)"),
        ("ana\u200b", "U+200B (ZERO WIDTH SPACE)"),
        ("slack:U0ΑNALYST1", "U+0391 (GREEK CAPITAL LETTER ALPHA)"),
        ("ana\x00", "U+0000"),
        ("mallory", "'mallory' is nobody in config/approval_matrix.yaml (people:)"),
        ("slack:U0NOBODY01", "'slack:U0NOBODY01' is nobody in config/approval_matrix.yaml"),
        ("a na", "is nobody in config/approval_matrix.yaml"),
        ("ana.ortiz", "is nobody in config/approval_matrix.yaml"),
        ("cli:", "is nobody in config/approval_matrix.yaml"),
        ("", "is nobody in config/approval_matrix.yaml"),
        ("workflow:collections-CUS-1", "is not a person"),
        ("schedule", "is not a person"),
        ("policy:auto_send", "is not a person"),
    ],
)
def test_anything_else_is_refused_saying_why(matrix: ApprovalMatrix, name: str, why: str) -> None:
    with pytest.raises(people.IdentityRefused) as refused:
        people.resolve(matrix.people, name)
    assert why in str(refused.value)
    assert matrix.person(name) is None


def test_the_recorded_tag_is_the_channel_and_the_handle(matrix: ApprovalMatrix) -> None:
    ana = matrix.resolve("slack:U0ANALYST1")
    assert (people.tag("cli", ana), people.tag("slack", ana)) == ("cli:ana", "slack:ana")
    assert people.same_person(matrix.people, "cli:slack:U0ANALYST1", "slack:ana")
    assert not people.same_person(matrix.people, "cli:ana", "cli:ben")
    assert not people.same_person(matrix.people, "workflow:x", "workflow:x")  # nobody


def _analyst_credit(matrix: ApprovalMatrix, requested_by: str) -> ApprovalRoute:
    """A credit in the analyst's band, so ana's role would allow her to decide it."""
    requirement = matrix.required_role("credit_note", Decimal("100.00"), "USD")
    assert requirement.role == "analyst"
    return matrix.route(requirement, "credit 100 USD on INV-1", requested_by)


@pytest.mark.parametrize("requested_by", ["cli:ana", "cli:slack:U0ANALYST1", "slack:U0ANALYST1"])
@pytest.mark.parametrize(
    "approver", ["slack:U0ANALYST1", "slack:ana", "cli:Ana", " ana", "cli:ana.ortiz@example.com"]
)
def test_the_requester_cannot_decide_under_another_name(
    matrix: ApprovalMatrix, requested_by: str, approver: str
) -> None:
    route = _analyst_credit(matrix, requested_by)
    with pytest.raises(DecisionRefused, match="ana requested this credit_note and cannot decide"):
        can_decide(approver, route)


def test_someone_else_with_the_role_may_decide(matrix: ApprovalMatrix) -> None:
    route = _analyst_credit(matrix, "cli:slack:U0ANALYST1")
    assert can_decide("slack:U0ANALYST2", route).handle == "ben"
    with pytest.raises(DecisionRefused, match="U\\+0435"):
        can_decide("cli:bеn", route)  # Cyrillic е: nobody
    with pytest.raises(DecisionRefused, match="is not a person"):
        can_decide("workflow:collections-CUS-1", route)


def test_a_workflow_request_may_be_decided_by_any_holder(matrix: ApprovalMatrix) -> None:
    route = _analyst_credit(matrix, "workflow:collections-CUS-1")
    assert can_decide("cli:ana", route).handle == "ana"
