"""Cadences as data: the shipped file is valid, and a broken one is refused naming the entry."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest
import yaml

from activities.approvals.matrix import load_matrix
from activities.collections.cadence import CadenceError, load_cadences
from activities.collections.emails import TEMPLATES
from activities.paths import REPO_ROOT

SHIPPED = REPO_ROOT / "config" / "cadences.yaml"


def test_shipped_cadences_load_with_their_templates() -> None:
    book = load_cadences(SHIPPED, TEMPLATES)
    assert set(book.cadences) == {"self_serve", "enterprise"}
    enterprise = book.cadences["enterprise"]
    assert enterprise.steps[0].offset_days < 0 and enterprise.lead_days == 7
    assert enterprise.step("suspension").needs_approval(strategic=False)
    assert enterprise.step("final_notice").needs_approval(strategic=True)
    assert not enterprise.step("final_notice").needs_approval(strategic=False)
    assert book.cadence_for(None, "self_serve_monthly").name == "self_serve"
    assert book.cadence_for(None, None).name == "self_serve"
    assert book.cadence_for("enterprise", "self_serve_monthly").name == "enterprise"


def broken(tmp_path: Path, change: dict[str, object], step: int | None = None) -> Path:
    raw = yaml.safe_load(SHIPPED.read_text())
    target = raw["cadences"]["enterprise"]
    if step is not None:
        target = target["steps"][step]
    target.update(change)
    path = tmp_path / "cadences.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


@pytest.mark.parametrize(
    ("change", "step", "message"),
    [
        (
            {"offset_days": 40},
            4,
            r"enterprise\.steps.*'reminder_3'.*offset_days 30 must be greater",
        ),
        ({"action": "fax"}, 2, r"cadences\.enterprise\.steps\[2\] \(reminder_1\)\.action"),
        ({"template": None}, 1, r"steps\[1\] \(due_today\).*needs a template"),
        ({"approval": "sometimes"}, 6, r"steps\[6\] \(final_notice\)\.approval"),
        ({"template": "no_such_template"}, 3, r"reminder_2\)\.template: .*no_such_template\.j2"),
        ({"hours": "17:00-09:00"}, None, None),
        (
            {"window": {"hours": "09:00-17:00", "days": ["funday"], "public_holidays": True}},
            None,
            r"enterprise\.window\.days.*funday",
        ),
        ({"approval_reminder_hours": 0}, None, r"enterprise\.approval_reminder_hours"),
        ({"approval": "always"}, 4, r"steps\[4\] \(escalation\).*needs no approval"),
    ],
)
def test_a_mistake_names_the_cadence_and_step(
    tmp_path: Path, change: dict[str, object], step: int | None, message: str | None
) -> None:
    if message is None:  # a window key at the cadence level is an unknown field
        message = r"enterprise\.hours: Extra inputs are not permitted"
    with pytest.raises(CadenceError, match=message):
        load_cadences(broken(tmp_path, change, step), TEMPLATES)


def test_unknown_default_and_unknown_override_are_named(tmp_path: Path) -> None:
    raw = yaml.safe_load(SHIPPED.read_text())
    raw["defaults"]["annual_invoiced"] = "vip"
    path = tmp_path / "cadences.yaml"
    path.write_text(yaml.safe_dump(raw))
    with pytest.raises(CadenceError, match=r"defaults\.annual_invoiced: no cadence named 'vip'"):
        load_cadences(path)
    book = load_cadences(SHIPPED)
    with pytest.raises(CadenceError, match="cadence 'vip' is not defined"):
        book.cadence_for("vip", None)


def test_write_off_review_must_end_the_cadence(tmp_path: Path) -> None:
    raw = yaml.safe_load(SHIPPED.read_text())
    steps = raw["cadences"]["self_serve"]["steps"]
    steps[-1], steps[-2] = steps[-2], steps[-1]
    steps[-2]["offset_days"], steps[-1]["offset_days"] = 30, 60
    path = tmp_path / "cadences.yaml"
    path.write_text(yaml.safe_dump(raw))
    with pytest.raises(CadenceError, match="write_off_review ends the cadence"):
        load_cadences(path)


def test_window_hours_are_checked() -> None:
    from activities.collections.cadence import SendWindow

    with pytest.raises(ValueError, match="must end after it starts"):
        SendWindow(hours="17:00-09:00", days=("mon",), public_holidays=False)
    with pytest.raises(ValueError, match="not HH:MM-HH:MM"):
        SendWindow(hours="9-5", days=("mon",), public_holidays=False)


def test_every_step_that_needs_a_person_is_an_action_of_the_approval_matrix() -> None:
    matrix = load_matrix(SHIPPED.parent)
    asked = {
        (step.name, step.approval_action)
        for cadence in load_cadences(SHIPPED, TEMPLATES).cadences.values()
        for step in cadence.steps
        if step.approval != "none"
    }
    assert asked == {
        ("final_notice", "final_notice"),
        ("suspension", "suspension"),
        ("write_off_review", "write_off"),
    }
    for _, action in asked:
        assert matrix.required_role(action, Decimal("1200.00"), "USD").role
