"""The cash-application policy as data: ``config/cash.yaml``, validated at load."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from activities.billing.money import check_currency
from activities.cash.statements import CsvFormat


class CashPolicyError(ValueError):
    """config/cash.yaml is wrong; the message names the entry."""


class CashPolicy(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    auto_apply_confidence: float = Field(default=0.9, ge=0.9, le=1.0)
    overpayment: Literal["unapplied", "account_credit"] = "unapplied"
    write_off_below: dict[str, Decimal] = Field(default_factory=dict)
    csv: CsvFormat | None = None

    @field_validator("write_off_below")
    @classmethod
    def _currencies(cls, value: dict[str, Decimal]) -> dict[str, Decimal]:
        for currency, limit in value.items():
            check_currency(currency)
            if limit < 0:
                raise ValueError(f"{currency}: the limit cannot be negative")
        return value

    def write_off_candidate(self, shortfall: Decimal, currency: str) -> bool:
        limit = self.write_off_below.get(currency)
        return limit is not None and Decimal(0) < shortfall < limit


def load_policy(path: Path) -> CashPolicy:
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as error:
        raise CashPolicyError(f"{path.name}: {error}") from None
    try:
        return CashPolicy.model_validate(raw)
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise CashPolicyError(f"{path.name}: {where}: {first['msg']}") from None
