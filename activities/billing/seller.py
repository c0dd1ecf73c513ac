"""Who issues our invoices, from ``config/seller.yaml``: name, address, tax id, how to pay.

The ledger copies this onto every invoice when it is issued (a later change
of the file never changes an issued invoice), and the documents print it.
Checked at load: the VAT id and IBAN by python-stdnum, countries by ISO 3166.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

import pycountry
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from stdnum import iban as iban_number
from stdnum.eu import vat as eu_vat
from stdnum.exceptions import ValidationError as NumberError

from activities.settings import config_dir


class SellerError(ValueError):
    """config/seller.yaml is wrong; the message names the entry."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SellerAddress(_Strict):
    line1: str = Field(min_length=1, max_length=200)
    line2: str | None = Field(default=None, max_length=200)
    city: str = Field(min_length=1, max_length=100)
    postal_code: str | None = Field(default=None, max_length=20)
    country: str = Field(pattern=r"^[A-Z]{2}$")

    @field_validator("country")
    @classmethod
    def _known_country(cls, value: str) -> str:
        if pycountry.countries.get(alpha_2=value) is None:
            raise ValueError(f"{value!r} is not an ISO 3166 country")
        return value


class PaymentInstruction(_Strict):
    """Bank details for one currency; an IBAN (with its BIC) or a local account number."""

    account_name: str = Field(min_length=1)
    iban: str | None = None
    bic: str | None = Field(default=None, pattern=r"^[A-Z]{6}[A-Z0-9]{2}([A-Z0-9]{3})?$")
    bank: str | None = None
    account_number: str | None = None
    routing_number: str | None = None

    @field_validator("iban")
    @classmethod
    def _valid_iban(cls, value: str | None) -> str | None:
        if value is None:
            return None
        try:
            return str(iban_number.validate(value))
        except NumberError as error:
            raise ValueError(f"not a valid IBAN ({error})") from None


class Seller(_Strict):
    legal_name: str = Field(min_length=1, max_length=200)
    trading_name: str | None = None
    address: SellerAddress
    vat_id: str
    company_id: str | None = None
    email: str = Field(min_length=3)
    phone: str | None = None
    payment_terms: str = Field(min_length=1)
    payment_instructions: dict[str, PaymentInstruction]
    einvoice_countries: frozenset[str] = frozenset()

    @field_validator("vat_id")
    @classmethod
    def _valid_vat(cls, value: str) -> str:
        try:
            return str(eu_vat.validate(value))
        except NumberError as error:
            raise ValueError(f"{value!r} is not a valid EU VAT number ({error})") from None

    @field_validator("payment_terms")
    @classmethod
    def _terms_has_days(cls, value: str) -> str:
        try:
            value.format(days=30)
        except (KeyError, IndexError, ValueError):
            raise ValueError("may only use the placeholder {days}") from None
        return value

    @field_validator("payment_instructions")
    @classmethod
    def _has_default(cls, value: dict[str, PaymentInstruction]) -> dict[str, PaymentInstruction]:
        if "default" not in value:
            raise ValueError("needs a `default` entry")
        return value

    def instructions_for(self, currency: str) -> PaymentInstruction:
        return self.payment_instructions.get(currency, self.payment_instructions["default"])

    def terms_text(self, days: int) -> str:
        return self.payment_terms.format(days=days)

    def snapshot(self) -> dict[str, Any]:
        """What an invoice keeps of the seller (JSON), as at its issue."""
        return self.model_dump(
            mode="json",
            include={
                "legal_name",
                "trading_name",
                "address",
                "vat_id",
                "company_id",
                "email",
                "phone",
            },
        )


def parse_seller(data: Any) -> Seller:
    try:
        return Seller.model_validate(data)
    except ValidationError as error:
        problems = [
            f"seller: {'.'.join(str(part) for part in item['loc'])}: {item['msg']}"
            for item in error.errors()
        ]
        raise SellerError("\n".join(problems)) from None


@cache
def _load(path: Path) -> Seller:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise SellerError(f"seller: cannot read {path}: {error.strerror}") from None
    except yaml.YAMLError as error:
        raise SellerError(f"seller: {path} is not valid YAML: {error}") from None
    return parse_seller(data)


def load_seller(path: str | Path | None = None) -> Seller:
    """The seller, by default from ``seller.yaml`` in ``CONFIG_DIR``; read once per path
    (resolved before the cache, so a changed ``CONFIG_DIR`` is read)."""
    return _load(Path(path or config_dir() / "seller.yaml").resolve())
