"""A subscription change in Slack: the preview with Confirm / Cancel, and what became of it.

Every figure is the engine's, from the change's outcome (activities/recurring/changes.py);
descriptions and ids are escaped, since ids come from what the analyst typed.
"""

from __future__ import annotations

from activities.recurring.activities import ChangeMessage
from activities.recurring.changes import ChangeOutcome
from activities.slack_text import escape
from bot.blocks.answers import LIST_LIMIT, Message, message
from bot.blocks.kit import Block, button, context, fields, header, money, section, user

CONFIRM_CHANGE = "subscription_change_confirm"
CANCEL_CHANGE = "subscription_change_cancel"


def _when(outcome: ChangeOutcome) -> str:
    if outcome.invoicing == "immediately":
        return "invoiced at once"
    return f"invoiced by the bill run of {outcome.period_end:%Y-%m-%d}"


def _body(outcome: ChangeOutcome, heading: str) -> list[Block]:
    currency = outcome.currency
    lines = [
        f"{escape(line.description)}\n*{money(line.amount, currency)}*"
        + (f" + tax {money(line.tax_amount, currency)}" if line.tax_amount else "")
        for line in outcome.pending[:LIST_LIMIT]
    ]
    if len(outcome.pending) > LIST_LIMIT:
        lines.append(f"…and {len(outcome.pending) - LIST_LIMIT} more lines")
    return [
        header(heading),
        section("\n".join(lines) or "No lines: the change costs nothing this period."),
        fields(
            [
                ("Not invoiced yet", money(outcome.pending_total, currency)),
                ("Next bill run's invoice", money(outcome.next_invoice_total, currency)),
            ]
        ),
        context(
            f"{escape(outcome.description)}, effective {outcome.effective_at:%Y-%m-%d %H:%M} UTC "
            f"· period {outcome.period_start:%Y-%m-%d} – {outcome.period_end:%Y-%m-%d} "
            f"· {_when(outcome)}"
        ),
    ]


def change_preview(outcome: ChangeOutcome, change_json: str) -> Message:
    """The preview with Confirm / Cancel; the buttons carry the change itself."""
    heading = f"Change {outcome.subscription_id}: {outcome.description}"
    blocks = _body(outcome, heading)
    blocks.append(
        {
            "type": "actions",
            "block_id": "subscription_change",
            "elements": [
                button("Confirm", CONFIRM_CHANGE, change_json, "primary"),
                button("Cancel", CANCEL_CHANGE, change_json),
            ],
        }
    )
    total = money(outcome.pending_total, outcome.currency)
    return message(f"Preview: {escape(heading)} ({total} not invoiced yet)", blocks)


def change_applied(outcome: ChangeOutcome, user_id: str) -> Message:
    heading = f"Changed {outcome.subscription_id}: {outcome.description}"
    blocks = _body(outcome, heading)
    done = f":white_check_mark: Confirmed by {user(user_id)}"
    if outcome.already_recorded:
        done = f":information_source: Already applied; {user(user_id)} clicked again"
    if outcome.invoice_number:
        done += f" · invoiced now: {escape(outcome.invoice_number)}"
    blocks.append(context(done))
    return message(f"{escape(heading)}", blocks)


def change_awaiting_approval(outcome: ChangeOutcome, user_id: str, credit: str) -> Message:
    heading = f"Awaiting approval: {outcome.subscription_id} {outcome.description}"
    blocks = _body(outcome, heading)
    blocks.append(
        context(
            f":hourglass_flowing_sand: Confirmed by {user(user_id)}; its credit of {credit} "
            "needs approval (see the approvals channel). Nothing is applied until then."
        )
    )
    return message(escape(heading), blocks)


def change_cancelled(subscription_id: str, user_id: str) -> Message:
    text = f"Change to {escape(subscription_id)} cancelled by {user(user_id)}; nothing changed."
    return message(text, [section(text)])


def change_decided(decided: ChangeMessage, decided_by: str) -> Message:
    """The preview once its approval was decided: applied (with the applied figures), or
    not, and who decided why. ``decided_by`` is already a mention or escaped text."""
    reason = escape(decided.reason)
    applied = decided.applied
    if decided.outcome == "approved" and applied is not None:
        heading = f"Changed {applied.subscription_id}: {applied.description}"
        blocks = _body(applied, heading)
        done = f":white_check_mark: Approved by {decided_by}: {reason}"
        if applied.invoice_number:
            done += f" · invoiced now: {escape(applied.invoice_number)}"
        blocks.append(context(done))
        return message(escape(heading), blocks)
    verdict = {
        "rejected": f":x: Rejected by {decided_by}: {reason}",
        "withdrawn": f":leftwards_arrow_with_hook: Withdrawn by {decided_by}: {reason}",
        "failed": f":warning: Approved by {decided_by}, but the ledger refused it: {reason}",
    }.get(decided.outcome, f"{escape(decided.outcome)} by {decided_by}: {reason}")
    heading = f"Not changed: {decided.subscription_id}"
    blocks = [
        header(heading),
        section(escape(decided.summary)),
        context(f"{verdict}. Nothing changed."),
    ]
    return message(escape(heading), blocks)
