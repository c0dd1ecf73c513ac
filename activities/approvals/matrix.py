"""The approval matrix: which role must approve an action of a given size, and who holds it.

Pure: the two data files (``config/approval_matrix.yaml`` and
``config/fx_rates.yaml``) are read once by :func:`load_matrix`, checked, and
turned into an :class:`ApprovalMatrix`; everything else here is arithmetic on
that object. :func:`can_decide` is what the approval update's validator calls
inside a workflow, so it works on an :class:`ApprovalRoute`, the snapshot of
the matrix taken when the request was opened (a workflow must not read files,
and a request keeps the rules it was opened under).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Annotated, Any, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError

from activities.approvals import people
from activities.billing.money import ZERO, CurrencyError, check_currency, format_money
from activities.holiday_calendar import country_calendar

MATRIX_FILE = "approval_matrix.yaml"
RATES_FILE = "fx_rates.yaml"

#: What billing-ops asks a human to approve.
ACTIONS = (
    "credit_note",
    "refund",
    "write_off",
    "suspension",
    "price_exception",
    "final_notice",
    "contract_dispute",
)


class MatrixError(ValueError):
    """The approval matrix or the rate table is wrong; the message names the file and entry."""


class DecisionRefused(ValueError):
    """This person may not decide this request; the message says why."""


# --- the files as written -------------------------------------------------------------------


def _quoted_decimal(value: Any) -> Any:
    """Amounts and rates are quoted strings or integers: a YAML float is already inexact."""
    if isinstance(value, float):
        raise ValueError(f'write {value!r} as a quoted decimal string, e.g. "{value}"')
    if isinstance(value, str | int) and not isinstance(value, bool):
        try:
            amount = Decimal(str(value))
        except InvalidOperation:
            raise ValueError(f"{value!r} is not a decimal number") from None
        if not amount.is_finite():
            raise ValueError(f"{value!r} is not a finite number")
        return amount
    return value


_M = TypeVar("_M", bound=BaseModel)
QuotedDecimal = Annotated[Decimal, BeforeValidator(_quoted_decimal)]
_STRICT = ConfigDict(extra="forbid", frozen=True)


class _BandFile(BaseModel):
    model_config = _STRICT
    up_to: QuotedDecimal | None = Field(gt=0)
    role: str
    sla_business_days: int = Field(ge=1, le=30)


class _RoleFile(BaseModel):
    model_config = _STRICT
    escalates_to: str | None


class _PersonFile(BaseModel):
    model_config = _STRICT
    name: str = Field(min_length=1)
    slack: str = Field(pattern=r"^[UW][A-Z0-9]{2,}$")
    email: str = Field(pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
    roles: list[str] = Field(min_length=1)


class _CalendarFile(BaseModel):
    model_config = _STRICT
    holidays: str = Field(pattern=r"^[A-Z]{2}$")
    timezone: str


class _MatrixFile(BaseModel):
    model_config = _STRICT
    base_currency: str
    business_days: _CalendarFile
    roles: dict[str, _RoleFile] = Field(min_length=1)
    actions: dict[str, list[_BandFile]]
    people: dict[str, _PersonFile] = Field(min_length=1)


class _RatesFile(BaseModel):
    model_config = _STRICT
    base_currency: str
    as_of: date
    rates: dict[str, QuotedDecimal] = Field(min_length=1)


# --- the checked matrix ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Person:
    """Someone who may be asked to approve: a short handle, their Slack id and email."""

    handle: str
    name: str
    slack: str
    email: str
    roles: tuple[str, ...]

    def answers_to(self, identity: str) -> bool:
        """True when the actor string ``identity`` names us (:mod:`activities.approvals.people`)."""
        return people.find((self,), identity) is not None

    def label(self) -> str:
        return f"{self.handle} ({', '.join(self.roles)})"


@dataclass(frozen=True, slots=True)
class Band:
    up_to: Decimal | None
    role: str
    sla_business_days: int


@dataclass(frozen=True, slots=True)
class Requirement:
    """What the matrix asks of one request: the role, who it escalates to, and the SLA."""

    action: str
    role: str
    roles: tuple[str, ...]
    sla_business_days: int
    base_amount: Decimal | None
    base_currency: str


@dataclass(frozen=True, slots=True)
class ApprovalRoute:
    """Who may decide one request, fixed when it was opened; the validator's whole world."""

    action: str
    summary: str
    requested_by: str
    roles: tuple[str, ...]
    people: tuple[Person, ...]


@dataclass(frozen=True, slots=True)
class ApprovalMatrix:
    base_currency: str
    holidays: str
    timezone: str
    escalates_to: Mapping[str, str | None]
    actions: Mapping[str, tuple[Band, ...]]
    people: tuple[Person, ...]
    rates: Mapping[str, Decimal]
    rates_as_of: date

    def to_base(self, amount: Decimal, currency: str) -> Decimal:
        """``amount`` in the base currency at the table's rate (exact; used only for bands)."""
        rate = self.rates.get(currency)
        if rate is None:
            raise MatrixError(
                f"currency: no rate for {currency} in {RATES_FILE}; add one to approve "
                f"{currency} amounts"
            )
        return amount * rate

    def chain(self, role: str) -> tuple[str, ...]:
        """``role`` and every role above it, in escalation order."""
        roles = [role]
        while (above := self.escalates_to.get(roles[-1])) is not None:
            roles.append(above)
        return tuple(roles)

    def required_role(
        self, action: str, amount: Decimal | None = None, currency: str | None = None
    ) -> Requirement:
        """The band of ``action`` that ``amount`` (in ``currency``) falls in, and its role."""
        bands = self.actions.get(action)
        if bands is None:
            raise MatrixError(f"action: {action!r} is not in the matrix ({', '.join(ACTIONS)})")
        base_amount = None
        if amount is not None:
            if currency is None:
                raise MatrixError("currency: an amount needs its currency for the band check")
            if amount < ZERO:
                raise MatrixError(f"amount: must not be negative, got {amount}")
            base_amount = self.to_base(amount, check_currency(currency))
        elif bands[0].up_to is not None:
            raise MatrixError(f"amount: {action} is banded by amount, so the request needs one")
        band = next(b for b in bands if b.up_to is None or (base_amount or ZERO) <= b.up_to)
        return Requirement(
            action=action,
            role=band.role,
            roles=self.chain(band.role),
            sla_business_days=band.sla_business_days,
            base_amount=base_amount,
            base_currency=self.base_currency,
        )

    def person(self, identity: str) -> Person | None:
        """Who the actor string ``identity`` names; None for system actors and unknowns."""
        return people.find(self.people, identity)

    def resolve(self, identity: str) -> Person:
        """Who ``identity`` names, or :class:`~activities.approvals.people.IdentityRefused`."""
        return people.resolve(self.people, identity)

    def holders(self, role: str) -> tuple[Person, ...]:
        return tuple(p for p in self.people if role in p.roles)

    def route(self, requirement: Requirement, summary: str, requested_by: str) -> ApprovalRoute:
        """The snapshot a workflow keeps to validate decisions on this request."""
        return ApprovalRoute(
            action=requirement.action,
            summary=summary,
            requested_by=requested_by,
            roles=requirement.roles,
            people=self.people,
        )


def can_decide(person: str, request: ApprovalRoute) -> Person:
    """Return who ``person`` is when they may decide ``request``; else refuse, saying why.

    Holders of one of ``request.roles`` (the role the request waits for and
    every role above it) may decide; the requester may not, whatever roles
    they hold and whichever channel or name either of them used: both actor
    strings are resolved to people of the directory and the people compared.
    """
    try:
        decider = people.resolve(request.people, person)
    except people.IdentityRefused as refused:
        raise DecisionRefused(str(refused)) from None
    if people.same_person(request.people, person, request.requested_by):
        raise DecisionRefused(
            f"{decider.handle} requested this {request.action} and cannot decide it "
            "(separation of duties: nobody approves their own request)"
        )
    if not set(decider.roles) & set(request.roles):
        raise DecisionRefused(
            f"{decider.label()} cannot decide this {request.action}: it needs "
            f"{' or '.join(request.roles)}"
        )
    return decider


def describe_amount(amount: Decimal | None, currency: str | None) -> str:
    """``$1,200.00`` or ``no amount``: how requests read in messages and lists."""
    if amount is None or currency is None:
        return "no amount"
    return format_money(amount, currency)


# --- loading --------------------------------------------------------------------------------


def load_matrix(config_dir: Path) -> ApprovalMatrix:
    """Read and check both files; any problem raises :class:`MatrixError` naming the entry."""
    matrix = _parse(config_dir / MATRIX_FILE, _MatrixFile)
    rates = _parse(config_dir / RATES_FILE, _RatesFile)
    _check(matrix, rates)
    return ApprovalMatrix(
        base_currency=matrix.base_currency,
        holidays=matrix.business_days.holidays,
        timezone=matrix.business_days.timezone,
        escalates_to={name: role.escalates_to for name, role in matrix.roles.items()},
        actions={
            action: tuple(Band(b.up_to, b.role, b.sla_business_days) for b in bands)
            for action, bands in matrix.actions.items()
        },
        people=tuple(
            Person(handle, p.name, p.slack, p.email, tuple(p.roles))
            for handle, p in matrix.people.items()
        ),
        rates=dict(rates.rates),
        rates_as_of=rates.as_of,
    )


def _parse(path: Path, model: type[_M]) -> _M:
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise MatrixError(f"{path}: cannot read ({error.strerror})") from None
    except yaml.YAMLError as error:
        raise MatrixError(f"{path}: not valid YAML ({error})") from None
    try:
        return model.model_validate(raw)
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "(top level)"
        raise MatrixError(f"{path.name}: {where}: {first['msg']}") from None


def _check(matrix: _MatrixFile, rates: _RatesFile) -> None:
    """The rules no schema can say: references resolve, bands ascend, nobody is unreachable."""

    def fail(where: str, rule: str) -> MatrixError:
        return MatrixError(f"{MATRIX_FILE}: {where}: {rule}")

    try:
        check_currency(matrix.base_currency)
        for code in rates.rates:
            check_currency(code)
    except CurrencyError as error:
        raise MatrixError(f"{MATRIX_FILE} / {RATES_FILE}: {error}") from None
    if rates.base_currency != matrix.base_currency:
        raise MatrixError(
            f"{RATES_FILE}: base_currency: {rates.base_currency} differs from the matrix's "
            f"{matrix.base_currency}"
        )
    if rates.rates.get(matrix.base_currency) != Decimal(1):
        raise MatrixError(f"{RATES_FILE}: rates.{matrix.base_currency}: the base rate must be 1")
    for code, rate in rates.rates.items():
        if rate <= ZERO:
            raise MatrixError(f"{RATES_FILE}: rates.{code}: must be positive, got {rate}")
    try:
        country_calendar(matrix.business_days.holidays)
    except NotImplementedError:
        raise fail(
            "business_days.holidays",
            f"the holidays package has no calendar for {matrix.business_days.holidays!r}",
        ) from None
    try:
        ZoneInfo(matrix.business_days.timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise fail(
            "business_days.timezone",
            f"{matrix.business_days.timezone!r} is not an IANA timezone",
        ) from None

    roles = set(matrix.roles)
    for name, role in matrix.roles.items():
        if role.escalates_to is not None and role.escalates_to not in roles:
            raise fail(f"roles.{name}.escalates_to", f"{role.escalates_to!r} is not a role")
        seen = [name]
        above = role.escalates_to
        while above is not None:
            if above in seen:
                raise fail(f"roles.{name}", f"escalation loops: {' -> '.join([*seen, above])}")
            seen.append(above)
            above = matrix.roles[above].escalates_to

    for action in ACTIONS:
        if action not in matrix.actions:
            raise fail("actions", f"{action!r} is missing; every action needs its bands")
    for action, bands in matrix.actions.items():
        if action not in ACTIONS:
            raise fail(f"actions.{action}", f"unknown action (known: {', '.join(ACTIONS)})")
        if not bands:
            raise fail(f"actions.{action}", "needs at least one band")
        for index, band in enumerate(bands):
            where = f"actions.{action}[{index}]"
            if band.role not in roles:
                raise fail(f"{where}.role", f"{band.role!r} is not a role")
            last = index == len(bands) - 1
            if last != (band.up_to is None):
                raise fail(
                    f"{where}.up_to",
                    "only the last band has no limit (up_to: null), and it must be there",
                )
            if index and band.up_to is not None and band.up_to <= (bands[index - 1].up_to or ZERO):
                raise fail(f"{where}.up_to", "bands must go up: each limit above the previous")

    # One identity per person: no handle, Slack id or email (case folded) names two people.
    owners: dict[str, str] = {}
    for handle, person in matrix.people.items():
        if not re.fullmatch(r"[a-z][a-z0-9_.-]*", handle):
            raise fail(f"people.{handle}", "a handle is lower case letters, digits, . _ -")
        if not person.email.isascii():
            raise fail(f"people.{handle}.email", "must be plain ASCII (confusable letters)")
        for held_role in person.roles:
            if held_role not in roles:
                raise fail(f"people.{handle}.roles", f"{held_role!r} is not a role")
        if handle in people.SYSTEM_ACTORS:
            raise fail(f"people.{handle}", f"{handle!r} names the system, not a person")
        for key in {handle, person.slack.lower(), person.email.lower()}:
            if key in owners:
                raise fail(f"people.{handle}", f"{key} also names {owners[key]}")
            owners[key] = handle

    held = {name for person in matrix.people.values() for name in person.roles}
    for action, bands in matrix.actions.items():
        for index, band in enumerate(bands):
            if band.role not in held:
                raise fail(
                    f"actions.{action}[{index}].role",
                    f"nobody in people holds {band.role!r}, so nobody could approve",
                )
