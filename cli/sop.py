"""`billing-ops sop [--out DIR]`: the team's standard operating procedures, as Markdown, written
from the configuration the product runs (``CONFIG_DIR``), so the written process never drifts
from the one the worker follows.

Each SOP is rendered from the loaded, validated config objects (never from the YAML text), so
a file the product would refuse is refused here too, with the same one-line error.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Collection
from pathlib import Path
from typing import Annotated

import typer

from activities.approvals.matrix import ApprovalMatrix, load_matrix
from activities.close.checklist import Checklist, load_checklist
from activities.collections.cadence import CadenceBook, load_cadences
from activities.settings import config_dir
from activities.zendesk.policy import TicketPolicy, load_policy
from cli.output import say

_APPROVAL = {"none": "", "always": "approval", "strategic": "approval for strategic accounts"}
_ACTION = {
    "email": "email",
    "slack_escalation": "Slack escalation to the account owner",
    "suspend": "suspend the account",
    "write_off_review": "hand to write-off review (the cadence ends)",
}


def _cell(text: str) -> str:
    """Config text in a Markdown table cell: a ``|`` would split the cell."""
    return text.replace("|", "\\|").replace("\n", " ")


def dunning_sop(book: CadenceBook) -> str:
    lines = [
        "# Dunning cadence",
        "",
        "Days count from the account's oldest unpaid due date (negative: before it is due). "
        "Every step is sent inside the send window, in the customer's timezone, on a business "
        "day of the customer's country.",
        "",
        f"Sender: {book.sender}. Payment link: {book.payment_link}. "
        f"Escalations go to {book.team_channel}.",
        "",
        "Which cadence an account follows unless it has its own:",
        "",
        *(f"- {kind.replace('_', ' ')}: {name}" for kind, name in book.defaults.items()),
    ]
    for name, cadence in book.cadences.items():
        window = cadence.window
        lines += [
            "",
            f"## {name}",
            "",
            cadence.description,
            "",
            f"Send window: {window.hours}, {', '.join(window.days)}"
            + ("; public holidays skipped" if window.public_holidays else "")
            + f". Approvers are reminded every {cadence.approval_reminder_hours} hours.",
            "",
            "| day | step | action | template | needs |",
            "|---:|---|---|---|---|",
        ]
        lines += [
            f"| {step.offset_days} | {_cell(step.name)} | {_ACTION[step.action]} | "
            f"{_cell(step.template or '')} | {_APPROVAL[step.approval]} |"
            for step in cadence.steps
        ]
    return "\n".join(lines) + "\n"


def approvals_sop(matrix: ApprovalMatrix) -> str:
    lines = [
        "# Approval limits",
        "",
        f"Amounts are in {matrix.base_currency}; other currencies are converted at the rates "
        f"of {matrix.rates_as_of.isoformat()} for the band check. A band covers amounts up to "
        "and including its limit. Whoever holds the role, or a role it escalates to, may "
        "decide; nobody decides a request they made. When the SLA passes (business days, "
        f"{matrix.holidays} holidays, {matrix.timezone}), the request goes up.",
    ]
    for action, bands in matrix.actions.items():
        lines += [
            "",
            f"## {action.replace('_', ' ')}",
            "",
            "| up to | role | SLA (business days) |",
        ]
        lines.append("|---:|---|---:|")
        lines += [
            f"| {'no limit' if band.up_to is None else band.up_to} | {band.role} | "
            f"{band.sla_business_days} |"
            for band in bands
        ]
    lines += [
        "",
        "## Who holds which role",
        "",
        "| role | escalates to | people |",
        "|---|---|---|",
    ]
    for role, above in matrix.escalates_to.items():
        holders = ", ".join(p.handle for p in matrix.people if role in p.roles)
        lines.append(f"| {role} | {above or '-'} | {holders or '-'} |")
    return "\n".join(lines) + "\n"


def _close_commands(matrix: ApprovalMatrix, checklist: Checklist) -> list[str]:
    """The close as commands, each run by the first person in the matrix who may (a line the
    docs test runs on the demo, tests/docs); ``…`` where the matrix names nobody."""

    def holder(roles: Collection[str], not_by: Collection[str] = ()) -> str:
        found = (p.handle for p in matrix.people if set(p.roles) & set(roles))
        return next((handle for handle in found if handle not in not_by), "…")

    ticks = [(step.id, holder([step.role])) for step in checklist.steps]
    first = ticks[0][1] if ticks else holder(checklist.sign_off_roles)
    return [
        "```",
        f"billing-ops close run --as {first}",
        *(f"billing-ops close tick {step} --as {who}" for step, who in ticks),
        "billing-ops close status",
        f"billing-ops close sign-off --as "
        f"{holder(checklist.sign_off_roles, not_by={who for _, who in ticks})}",
        "```",
    ]


def close_sop(matrix: ApprovalMatrix, folder: Path) -> str:
    checklist = load_checklist(folder, matrix)
    lines = [
        "# Month-end close checklist",
        "",
        "Run the close, tick each step, then the sign-off locks the period. A step is ticked "
        "by a holder of its role or a role above it; whoever signs off may not have ticked a "
        "step of the same close. The commands close the month before this one (`--period "
        "YYYY-MM` for another), as the people the approval matrix names would run them:",
        "",
        *_close_commands(matrix, checklist),
        "",
        "| step | what | role |",
        "|---|---|---|",
        *(f"| {s.id} | {_cell(s.title)} | {s.role} |" for s in checklist.steps),
        "",
        f"Sign-off: {' or '.join(checklist.sign_off_roles)}.",
        "",
        "Exceptions on the close's list: cash unapplied "
        f"{checklist.thresholds.unapplied_payment_days} days before the cut-off; disputes "
        f"open {checklist.thresholds.dispute_sla_days} days at the cut-off. Outputs are "
        f"posted to {checklist.slack_channel} when Slack is configured.",
    ]
    return "\n".join(lines) + "\n"


def billing_queue_sop(policy: TicketPolicy) -> str:
    auto = ", ".join(policy.auto_send) or "none: every reply waits for a person"
    lines = [
        "# Billing queue (Zendesk)",
        "",
        "Replies to billing tickets are drafted from the ledger's facts and reviewed in "
        f"{policy.review_channel} by {', '.join(policy.reviewer_roles)} (Send, Edit, or Send "
        f"as internal note). An untouched draft is posted again after "
        f"{policy.review_reminder_hours} hours.",
        "",
        f"- Promised answer time when a person must look into it: {policy.reply_days} "
        "business days.",
        f"- Invoices listed in a reply: at most {policy.invoices_shown}, newest first.",
        f"- Sent without review when the customer is matched and nothing was flagged: {auto}.",
        f"- Signature: {policy.sender}; "
        + (
            f"portal: {policy.portal_link}."
            if policy.portal_link
            else "no customer portal: replies attach the documents."
        ),
    ]
    return "\n".join(lines) + "\n"


def sop(
    out: Annotated[Path, typer.Option("--out", help="Folder to write the SOPs into")] = Path(
        "docs/sop"
    ),
) -> None:
    """Write the team's SOPs (dunning, approvals, close, billing queue) from CONFIG_DIR."""
    folder = config_dir()
    matrix = load_matrix(folder)
    pages: dict[str, Callable[[], str]] = {
        "dunning.md": lambda: dunning_sop(load_cadences(folder / "cadences.yaml")),
        "approval-limits.md": lambda: approvals_sop(matrix),
        "close-checklist.md": lambda: close_sop(matrix, folder),
        "billing-queue.md": lambda: billing_queue_sop(load_policy(folder / "zendesk.yaml")),
    }
    texts = {name: render() for name, render in pages.items()}  # all or nothing
    if out.exists() and not out.is_dir():
        raise ValueError(f"--out: {out} is a file; give a folder")
    out.mkdir(parents=True, exist_ok=True)
    for name, text in texts.items():
        partial = out / f".{name}.partial"
        partial.write_text(text, encoding="utf-8")
        os.replace(partial, out / name)
    say(f"{len(texts)} SOPs written to {out} from {folder}: {', '.join(texts)}")
