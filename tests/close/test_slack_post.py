"""A run of the close's reports posts its workbook and chart to the checklist's Slack channel
once (through the real ``slack_sdk`` against the fake Slack); a retry posts nothing more, a
re-run posts again; without a token nothing is posted; Slack refusing does not stop the close."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from pydantic import SecretStr
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from activities.approvals.matrix import load_matrix
from activities.close.activities import CloseActivities
from activities.close.checklist import ChecklistError, load_checklist
from activities.close.model import PrepareRequest
from activities.close.slack import ACTION
from activities.ledger.models import IdempotencyKey
from activities.settings import Settings
from tests.bot.fake_slack import BOT_TOKEN, FakeSlack

NOW = datetime(2026, 12, 2, 9, tzinfo=UTC)
CHANNEL = "#billing-close"
FILES = ["close-2026-11.xlsx", "ar-aging-12-months.png"]


@pytest.fixture(scope="module")
def fake_slack() -> Iterator[FakeSlack]:
    fake = FakeSlack().start()
    yield fake
    fake.stop()


@pytest.fixture
def slack(fake_slack: FakeSlack) -> FakeSlack:
    fake_slack.clear()
    return fake_slack


def _with_token(settings: Settings, token: str = BOT_TOKEN) -> Settings:
    return settings.model_copy(update={"slack_bot_token": SecretStr(token)})


def _request(run: int, at: datetime = NOW) -> PrepareRequest:
    return PrepareRequest(
        workflow_id="close-2026-11", period="2026-11", run=run, requested_by="ana", at=at
    )


def _posted(sessions: sessionmaker[Session]) -> list[IdempotencyKey]:
    with sessions() as session:
        return list(session.scalars(select(IdempotencyKey).where(IdempotencyKey.action == ACTION)))


def test_a_run_posts_once_and_a_rerun_posts_again(
    sqlite_book: sessionmaker[Session], close_settings: Settings, slack: FakeSlack
) -> None:
    activities = CloseActivities(sqlite_book, _with_token(close_settings), slack.api_url)
    summary = activities.prepare(_request(1))

    [message] = slack.calls_to("chat.postMessage")
    assert message.token == BOT_TOKEN and message.args["channel"] == CHANNEL
    text = message.args["text"]
    assert text.startswith("Month-end close 2026-11, run 1: closing AR ")
    assert "USD $379.00 (difference $0.00)" in text
    assert f"{len(summary.blocking)} blocking exceptions" in text
    for figures in summary.roll_forward:
        assert figures.currency in text

    asked = slack.calls_to("files.getUploadURLExternal")
    assert [call.args["filename"] for call in asked] == FILES
    directory = Path(summary.output_dir)
    uploads = [call for call in slack.calls if call.method.startswith("upload:")]
    assert [call.args["bytes"] for call in uploads] == [
        (directory / f).stat().st_size for f in FILES
    ]
    [completed] = slack.calls_to("files.completeUploadExternal")
    assert completed.args["channel_id"] == CHANNEL  # the channel chat.postMessage answered with
    thread = completed.args["thread_ts"]
    assert re.fullmatch(r"\d+\.000100", thread)  # a message's ts, as the fake gives them
    file_ids = [u.method.removeprefix("upload:") for u in uploads]
    assert f'"id": "{file_ids[0]}"' in completed.args["files"]
    assert f'"id": "{file_ids[1]}"' in completed.args["files"]
    [row] = _posted(sqlite_book)
    assert row.result == {"channel": CHANNEL, "ts": thread, "files": file_ids}

    # The activity retried (same input): the outputs are rewritten, nothing is posted again.
    slack.clear()
    assert activities.prepare(_request(1)) == summary
    assert slack.calls == []
    assert len(_posted(sqlite_book)) == 1

    # A re-run before sign-off is a new run: it posts its own outputs.
    activities.prepare(_request(2, NOW + timedelta(hours=1)))
    [again] = slack.calls_to("chat.postMessage")
    assert again.args["text"].startswith("Month-end close 2026-11, run 2: ")
    assert len(slack.calls_to("files.completeUploadExternal")) == 1
    assert len(_posted(sqlite_book)) == 2


def test_without_a_token_nothing_is_posted(
    sqlite_book: sessionmaker[Session], close_settings: Settings, slack: FakeSlack
) -> None:
    summary = CloseActivities(sqlite_book, close_settings, slack.api_url).prepare(_request(1))
    assert slack.calls == []
    assert _posted(sqlite_book) == []
    assert (Path(summary.output_dir) / FILES[0]).exists()


def test_slack_refusing_does_not_stop_the_close(
    sqlite_book: sessionmaker[Session],
    close_settings: Settings,
    slack: FakeSlack,
    caplog: pytest.LogCaptureFixture,
) -> None:
    activities = CloseActivities(
        sqlite_book, _with_token(close_settings, "xoxb-wrong"), slack.api_url
    )
    with caplog.at_level(logging.WARNING, logger="billing_ops.close"):
        summary = activities.prepare(_request(1))
    assert [call.method for call in slack.calls] == ["chat.postMessage"]
    assert "not posted to Slack #billing-close" in caplog.text and "invalid_auth" in caplog.text
    assert _posted(sqlite_book) == []  # nothing posted, so a retry tries again
    assert summary.files[0] == FILES[0]


@pytest.mark.parametrize(
    ("line", "problem"),
    [
        ("", "Field required"),
        ('slack_channel: "billing close"\n', "String should match pattern"),
        ('slack_channel: "#Billing-Close"\n', "String should match pattern"),
    ],
)
def test_the_checklist_names_a_valid_channel(
    close_settings: Settings, line: str, problem: str
) -> None:
    path = close_settings.config_dir / "close_checklist.yaml"
    kept = [
        row
        for row in path.read_text(encoding="utf-8").splitlines(keepends=True)
        if not row.startswith("slack_channel:")
    ]
    path.write_text("".join(kept) + line, encoding="utf-8")
    matrix = load_matrix(close_settings.config_dir)
    with pytest.raises(ChecklistError, match=f"close_checklist.yaml: slack_channel: {problem}"):
        load_checklist(close_settings.config_dir, matrix)
