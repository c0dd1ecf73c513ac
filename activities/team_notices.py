"""Messages to the billing team (escalations, approval requests, hand-offs).

Posted to Slack through ``slack_sdk`` when ``SLACK_BOT_TOKEN`` is set,
otherwise written as text files under ``DATA_DIR/outbox/team`` so the
product runs without Slack. Each notice has an idempotency key: a retried
activity finds the key and does not post again.

A notice's text is :class:`~activities.slack_text.Mrkdwn`: built with
:func:`~activities.slack_text.escape` or a Slack template, so a customer's
name can never post ``<!channel>`` or a disguised link.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy.orm import Session, sessionmaker

from activities.ledger.db import transaction
from activities.ledger.models import IdempotencyKey
from activities.slack_text import Mrkdwn

if TYPE_CHECKING:
    from slack_sdk import WebClient  # loaded only with a bot token (team_notices below)


@dataclass(frozen=True, slots=True)
class Notice:
    key: str
    channel: str
    text: Mrkdwn


@dataclass(frozen=True, slots=True)
class Posted:
    key: str
    where: str
    already_posted: bool


class TeamNotices:
    def __init__(
        self, sessions: sessionmaker[Session], folder: Path, slack: WebClient | None = None
    ) -> None:
        self.sessions = sessions
        self.folder = folder
        self.slack = slack

    def post(self, notice: Notice, now: datetime) -> Posted:
        key = f"notice:{notice.key}"
        with self.sessions() as session:
            done = session.get(IdempotencyKey, key)
            if done is not None and done.result:
                return Posted(notice.key, str(done.result["where"]), True)
        where = self._deliver(notice)
        with transaction(self.sessions) as session:
            if session.get(IdempotencyKey, key) is None:
                session.add(
                    IdempotencyKey(
                        key=key, action="team_notice", result={"where": where}, created_at=now
                    )
                )
        return Posted(notice.key, where, False)

    def _deliver(self, notice: Notice) -> str:
        if self.slack is not None:
            response = self.slack.chat_postMessage(channel=notice.channel, text=notice.text)
            return f"slack:{response['channel']}:{response['ts']}"
        self.folder.mkdir(parents=True, exist_ok=True)
        target = self.folder / f"{re.sub(r'[^A-Za-z0-9_.-]+', '_', notice.key)}.txt"
        partial = target.with_suffix(".partial")
        partial.write_text(f"{notice.channel}\n\n{notice.text}\n", encoding="utf-8")
        os.replace(partial, target)
        return f"file:{target.name}"


def team_notices(
    sessions: sessionmaker[Session], data_dir: Path, token: str | None, base_url: str | None = None
) -> TeamNotices:
    """Slack when a bot token is configured, files otherwise."""
    slack = None
    if token:
        from slack_sdk import WebClient

        slack = WebClient(token=token, base_url=base_url) if base_url else WebClient(token=token)
    return TeamNotices(sessions, data_dir / "outbox" / "team", slack)
