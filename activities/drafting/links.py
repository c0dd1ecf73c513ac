"""The allow-list of links a drafted message may hold (``config/drafting.yaml``)."""

from __future__ import annotations

from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from activities.paths import CONFIG_DIR


class LinkPolicyError(ValueError):
    """config/drafting.yaml is missing or has a bad entry; the message names it."""


class _LinkPolicy(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    allowed_links: tuple[str, ...] = Field(min_length=1)


def load_allowed_links(path: Path = CONFIG_DIR / "drafting.yaml") -> tuple[str, ...]:
    """The start of every allowed link; each must be an https link to a host and a path."""
    try:
        data = yaml.safe_load(path.read_text())
        policy = _LinkPolicy.model_validate(data)
    except (OSError, yaml.YAMLError) as error:
        raise LinkPolicyError(f"{path}: cannot be read ({error})") from None
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "(file)"
        raise LinkPolicyError(f"{path}: {where}: {first['msg']}") from None
    for n, link in enumerate(policy.allowed_links):
        if not link.startswith("https://") or link.count("/") < 3:
            raise LinkPolicyError(f"{path}: allowed_links.{n}: {link!r} must start https://<host>/")
    return tuple(link.lower() for link in policy.allowed_links)
