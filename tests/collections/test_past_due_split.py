"""Notices call past due only what is: a customer holding an invoice 56 days past due and
another due in 5 days is told the first amount is past due and the second is not yet due,
in every collections message (issue 18, item 11)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy.orm import Session, sessionmaker

from activities.collections import emails
from activities.collections.activities import CollectionsActivities, EmailStep, LoadAccount
from activities.collections.cadence import load_cadences
from activities.drafting.compose import Drafter
from activities.outbox import FileTransport, Outbox
from activities.paths import REPO_ROOT
from activities.team_notices import team_notices
from tests.collections.factories import account, invoice
from tests.workflows.harness import sent_emails

NOW = datetime(2026, 11, 17, 15, 0, tzinfo=UTC)  # a Tuesday, 10:00 in New York
TODAY = NOW.date()


def collections(sessions: sessionmaker[Session], folder: Path) -> CollectionsActivities:
    return CollectionsActivities(
        sessions,
        load_cadences(REPO_ROOT / "config" / "cadences.yaml", emails.TEMPLATES),
        Outbox(sessions, FileTransport(folder / "outbox"), "ar@example.com"),
        team_notices(sessions, folder, None),
        Drafter(sessions, None),
    )


@pytest.fixture
def mixed(sqlite_sessions: sessionmaker[Session]) -> str:
    """$261.00 due 56 days ago, $348.00 due in 5 days: $609.00 owed, $261.00 past due."""
    customer_id = account(sqlite_sessions, NOW)
    invoice(sqlite_sessions, customer_id, "261.00", TODAY - timedelta(days=56))
    invoice(sqlite_sessions, customer_id, "348.00", TODAY + timedelta(days=5))
    return customer_id


def test_the_final_notice_sent_separates_past_due_from_not_yet_due(
    sqlite_sessions: sessionmaker[Session], mixed: str, tmp_path: Path
) -> None:
    activities = collections(sqlite_sessions, tmp_path)
    step = EmailStep(
        customer_id=mixed,
        workflow_id=f"collections-{mixed}",
        cycle=(TODAY - timedelta(days=56)).isoformat(),
        step="final_notice",
        template="final_notice",
        now=NOW,
    )
    assert activities.send_email(step).sent
    (sent,) = sent_emails(sqlite_sessions, mixed)
    assert sent.subject == (
        f"Final notice: $261.00 past due for \u201c{mixed} Ltd\u201d, the oldest invoice 56 days"
    )
    assert "$609.00" not in sent.subject
    assert "$261.00 is past due, the oldest invoice by 56 days." in sent.body
    assert "\nPast due: $261.00\n" in sent.body
    assert "\nNot yet due: $348.00\n" in sent.body
    assert "\nTotal outstanding: $609.00\n" in sent.body
    assert "$609.00 is past due" not in sent.body and "due in 5 days" in sent.body


@pytest.mark.parametrize(
    ("template", "past_due_says"),
    [
        ("reminder", "Our records show $261.00 past due on your account"),
        ("final_notice", "$261.00 is past due"),
        ("suspension", "Because $261.00 remains unpaid after its due date"),
        ("escalation", "has $261.00 past due ($609.00 outstanding in all)"),
        ("write_off_review", "has $261.00 past due ($609.00 outstanding in all)"),
    ],
)
def test_every_collections_message_calls_past_due_only_the_past_due_amount(
    sqlite_sessions: sessionmaker[Session],
    mixed: str,
    tmp_path: Path,
    template: str,
    past_due_says: str,
) -> None:
    activities = collections(sqlite_sessions, tmp_path)
    snapshot = activities.load_account(LoadAccount(customer_id=mixed, as_of=NOW))
    values = emails.facts(snapshot, activities.book)
    assert (values["past_due"], values["due_later"], values["total"]) == (
        "$261.00",
        "$348.00",
        "$609.00",
    )
    if template in ("escalation", "write_off_review"):
        text = str(emails.render_slack(template, values))
    else:
        email = emails.render_email(template, values, ["ap@example.com"])
        assert "$609.00" not in email.subject
        text = f"{email.subject}\n{email.body}"
    assert past_due_says in text
    assert "$609.00 past due" not in text and "$609.00 is past due" not in text


def test_due_today_names_only_what_is_due_today(
    sqlite_sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    customer_id = account(sqlite_sessions, NOW)
    invoice(sqlite_sessions, customer_id, "100.00", TODAY)
    invoice(sqlite_sessions, customer_id, "348.00", TODAY + timedelta(days=5))
    activities = collections(sqlite_sessions, tmp_path)
    snapshot = activities.load_account(LoadAccount(customer_id=customer_id, as_of=NOW))
    email = emails.render_email(
        "due_today", emails.facts(snapshot, activities.book), ["ap@example.com"]
    )
    assert email.subject.endswith(": $100.00 is due today")
    assert "$100.00 is due today, and a further $348.00 is not yet due:" in email.body
    assert "Past due:" not in email.body


def test_one_day_is_written_in_the_singular(
    sqlite_sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    """The demo's suspension notice read "INV-000529 due 2026-12-01 1 days overdue"."""
    customer_id = account(sqlite_sessions, NOW)
    invoice(sqlite_sessions, customer_id, "261.00", TODAY - timedelta(days=1))
    invoice(sqlite_sessions, customer_id, "348.00", TODAY + timedelta(days=1))
    step = EmailStep(
        customer_id=customer_id,
        workflow_id=f"collections-{customer_id}",
        cycle=(TODAY - timedelta(days=1)).isoformat(),
        step="final_notice",
        template="final_notice",
        now=NOW,
    )
    assert collections(sqlite_sessions, tmp_path).send_email(step).sent
    (sent,) = sent_emails(sqlite_sessions, customer_id)
    assert sent.subject.endswith("the oldest invoice 1 day")
    assert "the oldest invoice by 1 day." in sent.body
    assert "1 day overdue" in sent.body and "due in 1 day" in sent.body
    assert "1 days" not in sent.subject + sent.body
