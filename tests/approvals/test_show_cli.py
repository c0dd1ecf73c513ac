"""``billing-ops approvals show``: the person deciding from the command line reads the
exact email the step sends, printed as text (markup characters in it are data)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import typer
from sqlalchemy.orm import Session, sessionmaker

from activities.approvals import store
from activities.settings import settings
from cli import approvals
from tests.collections.factories import account

NOW = datetime(2026, 11, 17, 15, 0, tzinfo=UTC)
PREVIEW = (
    "To: ap@example.com\nSubject: Service suspended for \u201c[/x] [bold]Acme[/bold] Ltd\u201d: "
    "$261.00 past due\n\nHello,\n\nBecause $261.00 remains unpaid after its due date "
    "(the oldest invoice by 56 days), your service has been suspended.\n"
)


def test_show_prints_the_email_the_step_sends_exactly(
    sqlite_sessions: sessionmaker[Session],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    customer_id = account(sqlite_sessions, NOW)
    with sqlite_sessions.begin() as session:
        store.open_request(
            session,
            store.NewRequest(
                request_id="APR-SHOW000001",
                workflow_id=f"collections-{customer_id}",
                action="suspension",
                summary="collections suspension: owes 261.00 USD, of it 261.00 USD past due",
                requested_by=f"workflow:collections-{customer_id}",
                required_role="billing_manager",
                customer_id=customer_id,
                amount=None,
                currency=None,
                requested_at=NOW,
                due_at=NOW,
                preview=PREVIEW,
            ),
        )
    monkeypatch.setenv("DATABASE_URL", sqlite_sessions.kw["bind"].url.render_as_string(False))
    monkeypatch.setenv("COLUMNS", "60")  # narrower than the subject: nothing is cut
    settings.cache_clear()
    app = typer.Typer()
    approvals.register(app)
    try:
        capsys.readouterr()
        app(["approvals", "show", "APR-SHOW000001"], standalone_mode=False)
        out = capsys.readouterr().out
    finally:
        settings.cache_clear()
    assert out.endswith(f"On approval, exactly this is sent:\n\n{PREVIEW}\n")
    assert "owes 261.00 USD, of it 261.00 USD past due" in out
