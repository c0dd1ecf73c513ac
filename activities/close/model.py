"""What the close workflow, its activities, the CLI and Slack pass each other: small pydantic
models, one per call, so fields can be added without breaking running closes."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Literal

from pydantic import BaseModel, ConfigDict

from activities.approvals.matrix import Person

WORKFLOW_TYPE = "CloseWorkflow"

State = Literal["preparing", "ready", "signing_off", "signed_off"]


def workflow_id(period: str) -> str:
    """One close per period: ``close-2026-11``."""
    return f"close-{period}"


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True)


class CloseStart(_Model):
    period: str
    requested_by: str = "schedule"


class ScheduledStart(_Model):
    """What the monthly Schedule passes; ``at`` replaces the workflow's clock (backfills, tests);
    ``search_attributes``: the namespace knows them, so the close starts with its own."""

    at: datetime | None = None
    search_attributes: bool = False


class StepPlan(_Model):
    id: str
    title: str
    role: str
    roles: tuple[str, ...]  # the role and every role above it: who may tick


class ClosePlan(_Model):
    """The close's rules, fixed when it starts: the workflow validates ticks against this."""

    period: str
    timezone: str
    starts_at: datetime
    cut_off: datetime
    steps: tuple[StepPlan, ...]
    sign_off_roles: tuple[str, ...]
    people: tuple[Person, ...]


class CurrencyFigures(_Model):
    currency: str
    opening: Decimal
    invoiced: Decimal
    account_credit: Decimal
    cash_applied: Decimal
    reversals: Decimal
    credit_notes: Decimal
    write_offs: Decimal
    closing: Decimal
    closing_from_invoices: Decimal
    difference: Decimal


class CloseSummary(_Model):
    period: str
    run: int
    prepared_at: datetime
    roll_forward: tuple[CurrencyFigures, ...]
    exceptions: int
    blocking: tuple[str, ...]
    output_dir: str
    files: tuple[str, ...]


class Tick(_Model):
    step: str
    by: str  # the person's handle in the approval matrix
    at: datetime
    note: str | None = None
    actor: str | None = None  # as the request named them: slack:U0X..., cli:ana


class TickRequest(_Model):
    step: str
    user: str
    note: str | None = None


class SignOffRequest(_Model):
    user: str


class RerunRequest(_Model):
    user: str


class SignedOff(_Model):
    period: str
    by: str
    at: datetime
    closing_ar: dict[str, Decimal]
    checklist_file: str


class CloseStatus(_Model):
    period: str
    state: State
    plan: ClosePlan | None
    summary: CloseSummary | None
    ticks: tuple[Tick, ...]
    signed_off: SignedOff | None


# --- activity inputs ----------------------------------------------------------------------------


class PlanRequest(_Model):
    period: str


class PrepareRequest(_Model):
    workflow_id: str
    period: str
    run: int
    requested_by: str
    at: datetime


class TickRecord(_Model):
    workflow_id: str
    period: str
    run: int
    tick: Tick


class SignOffRecord(_Model):
    workflow_id: str
    period: str
    summary: CloseSummary
    steps: tuple[StepPlan, ...]
    ticks: tuple[Tick, ...]
    by: str
    at: datetime
    actor: str | None = None


class ScheduleCheck(_Model):
    at: datetime
