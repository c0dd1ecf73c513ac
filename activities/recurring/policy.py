"""The recurring-billing policy from ``config/recurring_billing.yaml``, checked at load."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from activities.billing.proration import ProrationPolicy, policy_named
from activities.paths import CONFIG_DIR

ChangeInvoicing = Literal["immediately", "next_bill_run"]
AnchorOnChange = Literal["reset", "keep", "realign", "anniversary"]


class PolicyError(ValueError):
    """The recurring-billing configuration is wrong; the message names the entry."""


class _Config(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ContractPolicy(_Config):
    proration_policy: str = "daily"
    change_invoicing: ChangeInvoicing = "next_bill_run"
    #: Overrides the preset's ``anchor_on_change`` (a change of interval: a new period
    #: at the change, the billing day kept, Kill Bill's realign, which also starts a
    #: period at a resume or a plan change, or Lago's anniversary, the new interval on
    #: the anchor's own schedule); ``None`` keeps the preset's.
    anchor_on_change: AnchorOnChange | None = None

    @field_validator("proration_policy")
    @classmethod
    def _known(cls, value: str) -> str:
        policy_named(value)
        return value

    @property
    def proration(self) -> ProrationPolicy:
        preset = policy_named(self.proration_policy)
        if self.anchor_on_change is None or self.anchor_on_change == preset.anchor_on_change:
            return preset
        return _anchored(preset, self.anchor_on_change)


@cache
def _anchored(preset: ProrationPolicy, anchor_on_change: AnchorOnChange) -> ProrationPolicy:
    """The preset with another ``anchor_on_change``: built once, not per subscription billed."""
    return preset.model_copy(
        update={"anchor_on_change": anchor_on_change, "name": f"{preset.name}+{anchor_on_change}"}
    )


class BillRunConfig(_Config):
    batch_size: int = Field(default=100, ge=1, le=5000)
    cron: str = "30 0 * * *"
    slack_channel: str = "#billing-ops"


class RecurringPolicy(_Config):
    contract_types: dict[str, ContractPolicy]
    bill_run: BillRunConfig = BillRunConfig()

    def for_contract(self, contract_type: str) -> ContractPolicy:
        try:
            return self.contract_types[contract_type]
        except KeyError:
            raise PolicyError(
                f"recurring_billing.yaml contract_types: no entry for {contract_type!r}"
            ) from None


def load_policy(config_dir: Path = CONFIG_DIR) -> RecurringPolicy:
    path = config_dir / "recurring_billing.yaml"
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
        return RecurringPolicy.model_validate(raw)
    except OSError as error:
        raise PolicyError(f"{path}: {error.strerror}") from None
    except yaml.YAMLError as error:
        raise PolicyError(f"{path}: not valid YAML ({error})") from None
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        raise PolicyError(f"{path.name} {where}: {first['msg']}") from None
