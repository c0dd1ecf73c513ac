"""Who receives Peppol BIS Billing 3.0 (UBL 2.1) invoices: ``config/peppol.yaml``, checked."""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError, field_validator

from activities.settings import config_dir

#: A Peppol participant id: a four-digit ICD scheme, a colon, the identifier.
_ENDPOINT = re.compile(r"^\d{4}:[A-Za-z0-9.\-_]{1,50}$")


class PeppolConfigError(ValueError):
    """config/peppol.yaml is missing or has a bad entry; the message names it."""


class PeppolConfig(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    seller_endpoint: str
    customers: dict[str, str] = {}

    @field_validator("seller_endpoint")
    @classmethod
    def _seller(cls, value: str) -> str:
        if not _ENDPOINT.match(value):
            raise ValueError(f"{value!r} is not a Peppol id like 0208:0123456789")
        return value

    @field_validator("customers")
    @classmethod
    def _customers(cls, value: dict[str, str]) -> dict[str, str]:
        for customer_id, endpoint in value.items():
            if not _ENDPOINT.match(endpoint):
                raise ValueError(f"{customer_id}: {endpoint!r} is not a Peppol id like 0208:0123")
        return value

    def endpoint_of(self, customer_id: str) -> str | None:
        """The customer's Peppol id when they receive UBL invoices, else None."""
        return self.customers.get(customer_id)


def load_peppol(path: Path | None = None) -> PeppolConfig:
    """The Peppol settings (default: ``peppol.yaml`` in the config folder), read once per
    path; a bad entry is named."""
    return _load(path or config_dir() / "peppol.yaml")


@cache
def _load(path: Path) -> PeppolConfig:
    try:
        data = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as error:
        raise PeppolConfigError(f"{path}: cannot be read ({error})") from None
    try:
        return PeppolConfig.model_validate(data)
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "(file)"
        raise PeppolConfigError(f"{path}: {where}: {first['msg']}") from None
