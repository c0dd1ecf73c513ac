"""Rendering the Jinja2 templates in ``prompts/``: customer messages and the model's prompt.

A customer message template lives at ``prompts/<family>/<name>.j2`` and
starts with a ``Subject: ...`` line, the convention the collections emails
set; includes resolve inside the family's folder. The environment is the
collections one (strict undefined, no autoescape, plain text), so the
template-only draft is byte for byte the email those templates always made.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined

from activities.drafting.facts import DraftText
from activities.paths import PROMPTS_DIR

PROMPTS = PROMPTS_DIR


@cache
def _environment(folder: Path) -> Environment:
    return Environment(
        loader=FileSystemLoader(folder),
        undefined=StrictUndefined,
        autoescape=False,  # plain-text email and prompts, never HTML
        keep_trailing_newline=True,
    )


def render(folder: Path, name: str, values: Mapping[str, Any]) -> str:
    """Render ``folder/name.j2`` with ``values``, stripped of surrounding blank space."""
    return _environment(folder).get_template(f"{name}.j2").render(values).strip()


def render_message(kind: str, values: Mapping[str, Any], prompts: Path = PROMPTS) -> DraftText:
    """The template-only draft of ``kind`` (``family/name``): subject and body as rendered."""
    family, _, name = kind.partition("/")
    text = render(prompts / family, name, values)
    first, _, body = text.partition("\n")
    if not first.startswith("Subject: "):
        raise ValueError(f"template {kind}.j2: the first line must be 'Subject: ...'")
    subject = first.removeprefix("Subject: ").strip()
    return DraftText(
        subject=subject,
        body=body.strip() + "\n",
        approver_summary=f"Template {kind}: {subject}",
    )


def render_prompt(name: str, values: Mapping[str, Any], prompts: Path = PROMPTS) -> str:
    """One of the model's prompts, ``prompts/llm/<name>.j2``."""
    return render(prompts / "llm", name, values)
