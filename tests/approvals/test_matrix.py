"""The approval matrix as data: bands, currency conversion, separation of duties, validation."""

from __future__ import annotations

import shutil
from decimal import Decimal
from pathlib import Path

import pytest

from activities.approvals.matrix import (
    ACTIONS,
    ApprovalMatrix,
    DecisionRefused,
    MatrixError,
    can_decide,
    load_matrix,
)
from activities.paths import REPO_ROOT


@pytest.mark.parametrize(
    ("action", "amount", "currency", "role"),
    [
        ("credit_note", "500.00", "USD", "analyst"),  # a band includes its limit
        ("credit_note", "500.01", "USD", "billing_manager"),
        ("credit_note", "461.00", "EUR", "billing_manager"),  # 500.185 USD
        ("credit_note", "460.00", "EUR", "analyst"),  # 499.10 USD
        ("credit_note", "75000", "JPY", "analyst"),  # 495 USD, no minor unit
        ("credit_note", "5000.01", "USD", "controller"),
        ("refund", "300.00", "GBP", "billing_manager"),
        ("write_off", "999.99", "USD", "billing_manager"),
        ("price_exception", "2000.00", "USD", "sales"),
        ("price_exception", "20000.00", "USD", "controller"),
    ],
)
def test_the_band_of_an_amount_in_any_currency_picks_the_role(
    matrix: ApprovalMatrix, action: str, amount: str, currency: str, role: str
) -> None:
    assert matrix.required_role(action, Decimal(amount), currency).role == role


def test_actions_without_an_amount_have_one_band_and_escalate_upwards(
    matrix: ApprovalMatrix,
) -> None:
    suspension = matrix.required_role("suspension")
    assert (suspension.role, suspension.roles, suspension.sla_business_days) == (
        "billing_manager",
        ("billing_manager", "controller"),
        1,
    )
    assert matrix.required_role("contract_dispute").roles == ("legal",)
    assert matrix.required_role("final_notice").base_amount is None
    assert set(matrix.actions) == set(ACTIONS)


def test_requests_the_matrix_cannot_band_are_refused_naming_the_field(
    matrix: ApprovalMatrix,
) -> None:
    with pytest.raises(MatrixError, match="currency: no rate for CHF"):
        matrix.required_role("credit_note", Decimal("10"), "CHF")
    with pytest.raises(MatrixError, match="amount: credit_note is banded by amount"):
        matrix.required_role("credit_note")
    with pytest.raises(MatrixError, match="action: 'discount' is not in the matrix"):
        matrix.required_role("discount", Decimal("1"), "USD")
    with pytest.raises(MatrixError, match="amount: must not be negative"):
        matrix.required_role("refund", Decimal("-1"), "USD")


def test_nobody_decides_their_own_request_and_only_the_route_s_roles_decide(
    matrix: ApprovalMatrix,
) -> None:
    route = matrix.route(
        matrix.required_role("write_off", Decimal("200"), "USD"), "write off INV-9", "cli:maria"
    )
    assert route.roles == ("billing_manager", "controller")
    assert can_decide("chen.wei@example.com", route).handle == "chen"
    with pytest.raises(DecisionRefused, match="maria requested this write_off and cannot"):
        can_decide("U0BILLMGR1", route)
    with pytest.raises(DecisionRefused, match=r"sam \(sales\) cannot decide this write_off"):
        can_decide("slack:U0SALES001", route)
    system = matrix.route(matrix.required_role("suspension"), "suspend", "workflow:coll-CUS-1")
    assert can_decide("maria", system).handle == "maria"


def _broken(tmp_path: Path, old: str, new: str, file: str = "approval_matrix.yaml") -> Path:
    for name in ("approval_matrix.yaml", "fx_rates.yaml"):
        shutil.copy(REPO_ROOT / "config" / name, tmp_path / name)
    text = (tmp_path / file).read_text()
    assert old in text, f"fixture text {old!r} not in {file}"
    (tmp_path / file).write_text(text.replace(old, new, 1))
    return tmp_path


@pytest.mark.parametrize(
    ("old", "new", "file", "message"),
    [
        (
            'up_to: "500.00"',
            "up_to: 500.10",
            "approval_matrix.yaml",
            "actions.credit_note.0.up_to: Value error, write 500.1 as a quoted decimal string",
        ),
        (
            "role: analyst,",
            "role: auditor,",
            "approval_matrix.yaml",
            "actions.credit_note[0].role: 'auditor' is not a role",
        ),
        (
            '{up_to: "5000.00",  role: billing_manager, sla_business_days: 2}',
            '{up_to: "400.00",  role: billing_manager, sla_business_days: 2}',
            "approval_matrix.yaml",
            "actions.credit_note[1].up_to: bands must go up",
        ),
        (
            "controller:      {escalates_to: null}",
            "controller:      {escalates_to: analyst}",
            "approval_matrix.yaml",
            "escalation loops",
        ),
        (
            "roles: [legal]",
            "roles: [sales]",
            "approval_matrix.yaml",
            "actions.contract_dispute[0].role: nobody in people holds 'legal'",
        ),
        (
            "slack: U0ANALYST2",
            "slack: U0ANALYST1",
            "approval_matrix.yaml",
            "people.ben: u0analyst1 also names ana",
        ),
        (  # a handle that is another person's Slack id, case folded: two people, one name
            "  ben:\n",
            "  u0analyst1:\n",
            "approval_matrix.yaml",
            "people.u0analyst1: u0analyst1 also names ana",
        ),
        (
            "email: ben.adeyemi@example.com",
            "email: bеn.adeyemi@example.com",  # Cyrillic е
            "approval_matrix.yaml",
            "people.ben.email: must be plain ASCII",
        ),
        (
            "  ben:\n",
            "  schedule:\n",
            "approval_matrix.yaml",
            "people.schedule: 'schedule' names the system, not a person",
        ),
        (
            "holidays: US",
            "holidays: XX",
            "approval_matrix.yaml",
            "business_days.holidays: the holidays package has no calendar for 'XX'",
        ),
        ("  refund:\n", "  refunds:\n", "approval_matrix.yaml", "actions: 'refund' is missing"),
        ('EUR: "1.0850"', 'EUR: "-1"', "fx_rates.yaml", "rates.EUR: must be positive"),
        ('  USD: "1"\n', '  USD: "1"\n  XYZ: "2"\n', "fx_rates.yaml", "'XYZ' is not an ISO 4217"),
    ],
)
def test_a_bad_entry_is_refused_at_load_naming_it(
    tmp_path: Path, old: str, new: str, file: str, message: str
) -> None:
    with pytest.raises(MatrixError) as refused:
        load_matrix(_broken(tmp_path, old, new, file))
    assert message in str(refused.value)


def test_a_missing_file_names_the_path(tmp_path: Path) -> None:
    with pytest.raises(MatrixError, match=r"approval_matrix\.yaml: cannot read"):
        load_matrix(tmp_path)
