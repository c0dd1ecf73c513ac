"""The billing queue's policy as data (``config/zendesk.yaml``): signature, review, auto-send."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from activities.drafting.links import load_allowed_links

Category = Literal[
    "invoice_copy",
    "payment_status",
    "refund_request",
    "dispute",
    "account_change",
    "cancellation",
    "other",
]


class PolicyError(ValueError):
    """config/zendesk.yaml is missing or has a bad entry; the message names it."""


class TicketPolicy(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    sender: str = Field(min_length=1)
    #: A customer billing portal, when there is one: replies mention it only then.
    portal_link: str | None = Field(default=None, pattern=r"^https://\S+$")
    reply_days: int = Field(ge=1, le=30)
    invoices_shown: int = Field(ge=1, le=50)
    review_channel: str = Field(min_length=1)
    reviewer_roles: tuple[str, ...] = Field(min_length=1)
    review_reminder_hours: int = Field(ge=1, le=168)
    auto_send: tuple[Category, ...] = ()


def load_policy(path: Path) -> TicketPolicy:
    """Read and check the policy file, naming the entry that is wrong."""
    try:
        data = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as error:
        raise PolicyError(f"{path}: cannot be read ({error})") from None
    try:
        policy = TicketPolicy.model_validate(data)
    except ValidationError as error:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or '(file)'}: {e['msg']}" for e in error.errors()
        )
        raise PolicyError(f"{path}: {problems}") from None
    links = path.parent / "drafting.yaml"
    if policy.portal_link and not policy.portal_link.lower().startswith(load_allowed_links(links)):
        raise PolicyError(
            f"{path}: portal_link: {policy.portal_link!r} is not on the allow-list of links "
            f"({links}: allowed_links)"
        )
    return policy
