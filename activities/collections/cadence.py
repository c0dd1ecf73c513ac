"""Collections cadences as data: the steps of each cadence, its send window, and validation.

The billing team edits ``config/cadences.yaml``; this module turns it into
typed models and refuses a file with a mistake, naming the cadence and step.
Pure: reads the file it is given, nothing else.
"""

from __future__ import annotations

import re
from datetime import time
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

Action = Literal["email", "slack_escalation", "suspend", "write_off_review"]
Approval = Literal["none", "always", "strategic"]
#: A step that waits for a person asks the approval matrix for this action: any customer
#: email that needs approval is a final notice (config/approval_matrix.yaml).
APPROVAL_ACTIONS = {
    "suspend": "suspension",
    "write_off_review": "write_off",
    "email": "final_notice",
}

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
_HOURS = re.compile(r"^(\d{2}):(\d{2})-(\d{2}):(\d{2})$")


class CadenceError(ValueError):
    """The cadence file is wrong; the message names the file, the cadence and the step."""


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SendWindow(_Model):
    """When customers may be contacted, in their own timezone."""

    hours: str = Field(description="local business hours, e.g. 09:00-17:00")
    days: tuple[str, ...] = Field(description="business weekdays: mon..sun")
    public_holidays: bool = Field(description="skip the public holidays of the customer's country")

    @field_validator("hours")
    @classmethod
    def _hours_are_a_range(cls, value: str) -> str:
        match = _HOURS.match(value)
        if not match:
            raise ValueError(f"{value!r} is not HH:MM-HH:MM")
        start_h, start_m, end_h, end_m = (int(g) for g in match.groups())
        if start_h > 23 or end_h > 24 or start_m > 59 or end_m > 59:
            raise ValueError(f"{value!r} is not a valid time range")
        if (start_h, start_m) >= (end_h, end_m):
            raise ValueError(f"{value!r}: the window must end after it starts (same day)")
        return value

    @field_validator("days")
    @classmethod
    def _days_are_weekdays(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if not value:
            raise ValueError("needs at least one weekday")
        unknown = [d for d in value if d not in WEEKDAYS]
        if unknown:
            raise ValueError(f"{unknown} are not weekdays; use {', '.join(WEEKDAYS)}")
        return value

    @property
    def start(self) -> time:
        hours, minutes = self.hours.split("-")[0].split(":")
        return time(int(hours), int(minutes))

    @property
    def end(self) -> time:
        hours, minutes = self.hours.split("-")[1].split(":")
        return time(23, 59, 59, 999999) if hours == "24" else time(int(hours), int(minutes))

    @property
    def iso_weekdays(self) -> frozenset[int]:
        """Business days as ISO weekday numbers (Monday is 1)."""
        return frozenset(WEEKDAYS.index(d) + 1 for d in self.days)


class Step(_Model):
    """One step of a cadence: what happens how many days from the oldest unpaid due date."""

    name: str
    offset_days: int = Field(ge=-60, le=730)
    action: Action
    template: str | None = None
    approval: Approval = "none"

    @field_validator("name")
    @classmethod
    def _name_is_an_identifier(cls, value: str) -> str:
        if not _NAME.match(value):
            raise ValueError(f"{value!r} must be lower_snake_case")
        return value

    @model_validator(mode="after")
    def _template_fits_action(self) -> Step:
        if self.action == "email" and not self.template:
            raise ValueError("an email step needs a template")
        if self.action in ("slack_escalation", "write_off_review") and self.template:
            raise ValueError(f"a {self.action} step sends no customer email; remove the template")
        if self.action == "slack_escalation" and self.approval != "none":
            raise ValueError("a slack_escalation step only tells the team; it needs no approval")
        return self

    def needs_approval(self, strategic: bool) -> bool:
        """Whether policy wants a person to approve this step for this account."""
        return self.approval == "always" or (self.approval == "strategic" and strategic)

    @property
    def approval_action(self) -> str:
        """The approval matrix's action for this step: who approves it, and how fast."""
        return APPROVAL_ACTIONS[self.action]

    @property
    def is_message(self) -> bool:
        """A reminder email: later reminders replace it when the cadence catches up."""
        return self.action == "email"


class Cadence(_Model):
    name: str
    description: str
    window: SendWindow
    approval_reminder_hours: int = Field(ge=1, le=24 * 14)
    steps: tuple[Step, ...]

    @field_validator("steps")
    @classmethod
    def _steps_in_order(cls, steps: tuple[Step, ...]) -> tuple[Step, ...]:
        if not steps:
            raise ValueError("a cadence needs at least one step")
        seen: set[str] = set()
        for previous, step in zip((None, *steps), steps, strict=False):
            if step.name in seen:
                raise ValueError(f"step {step.name!r} appears twice")
            seen.add(step.name)
            if previous is not None and step.offset_days <= previous.offset_days:
                raise ValueError(
                    f"step {step.name!r}: offset_days {step.offset_days} must be greater than "
                    f"the previous step's ({previous.name!r}, {previous.offset_days})"
                )
        if any(s.action == "write_off_review" for s in steps[:-1]):
            raise ValueError("write_off_review ends the cadence, so it must be the last step")
        return steps

    @property
    def lead_days(self) -> int:
        """How many days before the due date the cadence starts (0 when it starts on it)."""
        return max(0, -self.steps[0].offset_days)

    def step(self, name: str) -> Step:
        for step in self.steps:
            if step.name == name:
                return step
        raise KeyError(f"cadence {self.name!r} has no step {name!r}")


class CadenceBook(_Model):
    """Every cadence, which one an account follows by default, and the shared settings."""

    payment_link: str
    team_channel: str
    sender: str
    defaults: dict[str, str]
    cadences: dict[str, Cadence]

    @field_validator("payment_link")
    @classmethod
    def _link_names_the_customer(cls, value: str) -> str:
        if "{customer_id}" not in value:
            raise ValueError("must contain {customer_id}")
        return value

    @model_validator(mode="after")
    def _defaults_exist(self) -> CadenceBook:
        for contract, cadence in self.defaults.items():
            if cadence not in self.cadences:
                raise ValueError(f"defaults.{contract}: no cadence named {cadence!r}")
        if "no_subscription" not in self.defaults:
            raise ValueError("defaults: needs no_subscription (accounts without a subscription)")
        return self

    def cadence_for(self, override: str | None, contract_type: str | None) -> Cadence:
        """The account's own cadence if it has one, else the default for its contract."""
        if override:
            if override not in self.cadences:
                raise CadenceError(
                    f"cadence {override!r} is not defined (known: {', '.join(self.cadences)})"
                )
            return self.cadences[override]
        key = contract_type if contract_type in self.defaults else "no_subscription"
        return self.cadences[self.defaults[key]]

    @property
    def lead_days(self) -> int:
        return max(c.lead_days for c in self.cadences.values())


def load_cadences(path: Path, templates_dir: Path | None = None) -> CadenceBook:
    """Read and validate the cadence file; every template a step names must exist."""
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as error:
        raise CadenceError(f"{path}: cannot read cadences ({error})") from None
    if not isinstance(raw, dict) or not isinstance(raw.get("cadences"), dict):
        raise CadenceError(f"{path}: expected a mapping with a 'cadences' section")
    for name, body in raw["cadences"].items():
        if isinstance(body, dict) and body.setdefault("name", name) != name:
            raise CadenceError(f"{path}: cadences.{name}.name: must be {name!r}, its key")
    try:
        book = CadenceBook.model_validate(raw)
    except ValidationError as error:
        raise CadenceError(
            f"{path}: " + "; ".join(_describe(raw, e) for e in error.errors())
        ) from None
    for cadence in book.cadences.values():
        for step in cadence.steps:
            if (
                templates_dir
                and step.template
                and not (templates_dir / f"{step.template}.j2").is_file()
            ):
                raise CadenceError(
                    f"{path}: cadences.{cadence.name}.steps ({step.name}).template: "
                    f"{templates_dir / (step.template + '.j2')} does not exist"
                )
    return book


def _describe(raw: dict[str, Any], error: Any) -> str:
    """``cadences.enterprise.steps[4] (escalation).action: Input should be ...``."""
    parts: list[str] = []
    node: Any = raw
    for key in error["loc"]:
        if isinstance(key, int):
            label = f"[{key}]"
            node = node[key] if isinstance(node, list | tuple) and key < len(node) else None
            if isinstance(node, dict) and "name" in node:
                label += f" ({node['name']})"
            parts.append(label)
            continue
        parts.append(f".{key}" if parts else str(key))
        node = node.get(key) if isinstance(node, dict) else None
    where = "".join(parts) or "(top level)"
    return f"{where}: {error['msg']}"
