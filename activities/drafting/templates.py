"""Rendering the Jinja2 templates in ``prompts/``: customer messages and the model's prompt.

A customer message template lives at ``prompts/<family>/<name>.j2`` and
starts with a ``Subject: ...`` line, the convention the collections emails
set; includes resolve inside the family's folder. A template may declare the
facts its message must state in a comment, ``{# requires: total, invoices,
payment_link #}``: a model's draft that leaves one out is not used.

Customer-controlled text reaches a template only as
:class:`~activities.drafting.untrusted.Untrusted` values, shown through the
``quoted`` / ``quoted_block`` filters (rendering one bare raises). The
environment is plain text (strict undefined, no autoescape), so the
template-only draft is byte for byte the email the templates always made.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined

from activities.drafting.facts import DraftText
from activities.drafting.untrusted import Untrusted, quoted, quoted_block, unmarked
from activities.paths import PROMPTS_DIR

PROMPTS = PROMPTS_DIR

_REQUIRES = re.compile(r"\{#-?\s*requires:(?P<names>[^#]*)-?#\}")


@cache
def _environment(folder: Path) -> Environment:
    environment = Environment(
        loader=FileSystemLoader(folder),
        undefined=StrictUndefined,
        autoescape=False,  # plain-text email and prompts, never HTML
        keep_trailing_newline=True,
    )
    environment.filters["quoted"] = quoted
    environment.filters["quoted_block"] = quoted_block
    return environment


def render(folder: Path, name: str, values: Mapping[str, Any]) -> str:
    """Render ``folder/name.j2`` with ``values``, stripped of surrounding blank space."""
    return _environment(folder).get_template(f"{name}.j2").render(values).strip()


def _context(values: Mapping[str, Any], untrusted: Mapping[str, str] | None) -> dict[str, Any]:
    """The values, with every untrusted one wrapped (it wins over a plain value of that name)."""
    return {**values, **{k: Untrusted(v) for k, v in (untrusted or {}).items()}}


def render_file(
    folder: Path, name: str, values: Mapping[str, Any], untrusted: Mapping[str, str] | None = None
) -> DraftText:
    """``folder/name.j2`` as subject and body, quoted untrusted text still marked."""
    text = render(folder, name, _context(values, untrusted))
    first, _, body = text.partition("\n")
    if not first.startswith("Subject: "):
        raise ValueError(f"template {folder.name}/{name}.j2: the first line must be 'Subject: ...'")
    subject = first.removeprefix("Subject: ").strip()
    return DraftText(
        subject=subject,
        body=body.strip() + "\n",
        approver_summary=f"Template {folder.name}/{name}: {unmarked(subject)}",
    )


def render_marked(
    kind: str,
    values: Mapping[str, Any],
    untrusted: Mapping[str, str] | None = None,
    prompts: Path = PROMPTS,
) -> DraftText:
    """The template-only draft of ``kind`` (``family/name``), quoted untrusted text marked."""
    family, _, name = kind.partition("/")
    return render_file(prompts / family, name, values, untrusted)


def unmarked_text(text: DraftText) -> DraftText:
    """``text`` as the customer reads it: the untrusted-text markers removed."""
    return DraftText(
        subject=unmarked(text.subject),
        body=unmarked(text.body),
        approver_summary=unmarked(text.approver_summary),
    )


def render_message(
    kind: str,
    values: Mapping[str, Any],
    prompts: Path = PROMPTS,
    untrusted: Mapping[str, str] | None = None,
) -> DraftText:
    """The template-only draft of ``kind`` as it is sent."""
    return unmarked_text(render_marked(kind, values, untrusted, prompts))


def requirements(kind: str, prompts: Path = PROMPTS) -> tuple[str, ...]:
    """The facts a message of ``kind`` must state, as its template declares them."""
    family, _, name = kind.partition("/")
    source = (prompts / family / f"{name}.j2").read_text()
    found = _REQUIRES.search(source)
    if found is None:
        return ()
    return tuple(n.strip() for n in found.group("names").split(",") if n.strip())


def render_prompt(name: str, values: Mapping[str, Any], prompts: Path = PROMPTS) -> str:
    """One of the model's prompts, ``prompts/llm/<name>.j2``."""
    return render(prompts / "llm", name, values)
