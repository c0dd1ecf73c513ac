"""The close checklist: its steps and roles (config/close_checklist.yaml, checked against the
approval matrix), and the rules for ticking a step and signing the period off.

The rules are pure functions of the :class:`~activities.close.model.ClosePlan`
snapshot the workflow keeps, so the workflow's update validators call them
directly (a workflow must not read files).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from activities.approvals import people
from activities.approvals.matrix import ApprovalMatrix, Person
from activities.close.model import ClosePlan, CloseSummary, StepPlan, Tick

CHECKLIST_FILE = "close_checklist.yaml"

#: A channel as Slack names it (``#billing-close``: lowercase, digits, ``-``, ``_``, at most
#: 80 characters) or its id (``C0123ABCD``).
SLACK_CHANNEL = r"^(#[a-z0-9][a-z0-9_-]{0,79}|[CG][A-Z0-9]{8,})$"


class ChecklistError(ValueError):
    """The checklist file is wrong; the message names the entry."""


class CloseRefused(ValueError):
    """This tick or sign-off is not allowed; the message says why."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class _StepFile(_Strict):
    id: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    title: str = Field(min_length=1)
    role: str


class _ThresholdsFile(_Strict):
    unapplied_payment_days: int = Field(ge=0, le=365)
    dispute_sla_days: int = Field(ge=1, le=365)


class _ChecklistFile(_Strict):
    steps: list[_StepFile] = Field(min_length=1)
    sign_off_role: str
    exceptions: _ThresholdsFile
    slack_channel: str = Field(pattern=SLACK_CHANNEL)


@dataclass(frozen=True, slots=True)
class Thresholds:
    """How long things may wait before they are exceptions on the close's list."""

    unapplied_payment_days: int
    dispute_sla_days: int


@dataclass(frozen=True, slots=True)
class Checklist:
    steps: tuple[StepPlan, ...]
    sign_off_roles: tuple[str, ...]
    people: tuple[Person, ...]
    thresholds: Thresholds
    slack_channel: str  # where the outputs are posted when Slack is configured


def load_checklist(config_dir: Path, matrix: ApprovalMatrix) -> Checklist:
    """Read and check the checklist; every role must be in the matrix and held by someone."""
    path = config_dir / CHECKLIST_FILE
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise ChecklistError(f"{path}: cannot read ({error.strerror})") from None
    except yaml.YAMLError as error:
        raise ChecklistError(f"{path}: not valid YAML ({error})") from None
    try:
        checklist = _ChecklistFile.model_validate(raw)
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "(top level)"
        raise ChecklistError(f"{CHECKLIST_FILE}: {where}: {first['msg']}") from None
    seen: set[str] = set()
    for index, step in enumerate(checklist.steps):
        if step.id in seen:
            raise ChecklistError(f"{CHECKLIST_FILE}: steps[{index}].id: {step.id!r} is repeated")
        seen.add(step.id)
        _check_role(matrix, step.role, f"steps[{index}].role")
    _check_role(matrix, checklist.sign_off_role, "sign_off_role")
    return Checklist(
        steps=tuple(
            StepPlan(id=s.id, title=s.title, role=s.role, roles=matrix.chain(s.role))
            for s in checklist.steps
        ),
        sign_off_roles=matrix.chain(checklist.sign_off_role),
        people=matrix.people,
        thresholds=Thresholds(
            checklist.exceptions.unapplied_payment_days, checklist.exceptions.dispute_sla_days
        ),
        slack_channel=checklist.slack_channel,
    )


def _check_role(matrix: ApprovalMatrix, role: str, where: str) -> None:
    if role not in matrix.escalates_to:
        raise ChecklistError(
            f"{CHECKLIST_FILE}: {where}: {role!r} is not a role of the approval matrix "
            f"({', '.join(sorted(matrix.escalates_to))})"
        )
    if not matrix.holders(role):
        raise ChecklistError(f"{CHECKLIST_FILE}: {where}: nobody holds {role!r}")


# --- the rules ----------------------------------------------------------------------------------


def _person(plan: ClosePlan, user: str) -> Person:
    try:
        return people.resolve(plan.people, user)
    except people.IdentityRefused as refused:
        raise CloseRefused(str(refused)) from None


def may_tick(
    plan: ClosePlan, summary: CloseSummary | None, ticks: Sequence[Tick], step_id: str, user: str
) -> Person:
    """Who ``user`` is, when they may tick ``step_id`` now; else refuse, saying why."""
    step = next((s for s in plan.steps if s.id == step_id), None)
    if step is None:
        raise CloseRefused(
            f"step: {step_id!r} is not on the close checklist "
            f"({', '.join(s.id for s in plan.steps)})"
        )
    if summary is None:
        raise CloseRefused(f"the {plan.period} reports are being prepared; tick once they are out")
    person = _person(plan, user)
    if not set(person.roles) & set(step.roles):
        raise CloseRefused(
            f"{person.label()} cannot tick {step.id}: it needs {' or '.join(step.roles)}"
        )
    done = next((t for t in ticks if t.step == step.id), None)
    if done is not None:
        raise CloseRefused(f"{step.id} was already ticked by {done.by} at {done.at:%Y-%m-%d %H:%M}")
    return person


def may_sign_off(
    plan: ClosePlan, summary: CloseSummary | None, ticks: Sequence[Tick], user: str
) -> Person:
    """Who ``user`` is, when they may sign the period off now; else refuse, saying why."""
    person = _person(plan, user)
    if not set(person.roles) & set(plan.sign_off_roles):
        raise CloseRefused(
            f"{person.label()} cannot sign off the close: it needs "
            f"{' or '.join(plan.sign_off_roles)}"
        )
    if summary is None:
        raise CloseRefused(f"the {plan.period} reports are being prepared; nothing to sign yet")
    if summary.blocking:
        raise CloseRefused(
            f"{len(summary.blocking)} blocking exception(s) in the {plan.period} close, e.g. "
            f"{summary.blocking[0]}; fix them and re-run the close"
        )
    missing = [s.id for s in plan.steps if not any(t.step == s.id for t in ticks)]
    if missing:
        raise CloseRefused(f"the checklist is not complete: {', '.join(missing)} not ticked")
    own = [t.step for t in ticks if person.answers_to(t.by)]
    if own:
        raise CloseRefused(
            f"{person.handle} ticked {', '.join(own)} and cannot also sign off the close "
            "(separation of duties: nobody approves their own work)"
        )
    return person
