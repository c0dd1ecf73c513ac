"""Posting a close run's outputs to Slack: a summary message, then the workbook and the aging
chart in its thread (``files_upload_v2``).

Called by the prepare activity once the outputs are on disk, when ``SLACK_BOT_TOKEN`` is set.
Each run of the reports posts once: an idempotency key per period, run and the run's start
time remembers the message and then the files, so a retried activity finds them and posts
nothing again, while a re-run (a new run number) posts its own outputs.

The summary goes out with ``chat.postMessage``, which takes the channel's name from the
checklist and answers with its id; the upload needs that id. Slack failing does not fail the
close (the outputs are always on disk): the client retries dropped connections and rate
limits, and anything else is logged and left.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy.orm import Session, sessionmaker

from activities.billing.money import format_money
from activities.close.model import CurrencyFigures
from activities.ledger.db import transaction
from activities.ledger.models import IdempotencyKey
from activities.slack_text import escape

if TYPE_CHECKING:
    # slack_sdk loads with the first client: a worker that posts nothing does not hold it.
    from slack_sdk import WebClient

log = logging.getLogger("billing_ops.close")

ACTION = "close.slack_post"


@dataclass(frozen=True, slots=True)
class CloseRun:
    """One run of a period's reports, as the summary tells it."""

    workflow_id: str
    period: str
    run: int
    at: datetime  # when the run was asked for (the workflow's clock): tells runs apart
    roll_forward: Sequence[CurrencyFigures]
    blocking: int


def slack_client(token: str, base_url: str | None = None) -> WebClient:
    """A client that retries dropped connections and rate limits (the SDK's built-in rules)."""
    from slack_sdk import WebClient
    from slack_sdk.http_retry import all_builtin_retry_handlers

    handlers = all_builtin_retry_handlers()
    if base_url:
        return WebClient(token=token, base_url=base_url, retry_handlers=handlers)
    return WebClient(token=token, retry_handlers=handlers)


def idempotency_key(run: CloseRun) -> str:
    return f"{ACTION}:{run.workflow_id}:{run.run}:{run.at.isoformat()}"


def summary_text(run: CloseRun) -> str:
    """``Close 2026-11, run 2: closing AR USD $379.00 (difference $0.00); 0 blocking ...``."""
    figures = "; ".join(
        f"{f.currency} {format_money(f.closing, f.currency)} "
        f"(difference {format_money(f.difference, f.currency)})"
        for f in run.roll_forward
    )
    blocking = f"{run.blocking} blocking exception{'' if run.blocking == 1 else 's'}"
    return (
        f"Month-end close {escape(run.period)}, run {run.run}: closing AR "
        f"{figures or 'none (no receivables)'}. {blocking}. Workbook and AR aging chart in the "
        "thread."
    )


def post_outputs(
    client: WebClient,
    sessions: sessionmaker[Session],
    channel: str,
    run: CloseRun,
    files: Sequence[Path],
) -> dict[str, Any] | None:
    """Post the summary and upload ``files`` in its thread, once per run.

    Returns what was posted (channel, ts, file ids), or None when Slack refused; the
    refusal is logged.
    """
    from slack_sdk.errors import SlackClientError  # loaded already by ``client``

    key = idempotency_key(run)
    with sessions() as session:
        row = session.get(IdempotencyKey, key)
        done: dict[str, Any] = dict(row.result or {}) if row is not None else {}
    if "files" in done:
        return done
    try:
        if "ts" not in done:
            posted = client.chat_postMessage(channel=channel, text=summary_text(run))
            done = {"channel": str(posted["channel"]), "ts": str(posted["ts"])}
            _remember(sessions, key, run.at, done)
        uploaded = client.files_upload_v2(
            channel=done["channel"],
            thread_ts=done["ts"],
            file_uploads=[{"file": str(path), "filename": path.name} for path in files],
        )
    except SlackClientError as error:
        log.warning(
            "close %s run %d: not posted to Slack %s: %s", run.period, run.run, channel, error
        )
        return None
    done = {**done, "files": [str(f["id"]) for f in uploaded.get("files") or []]}
    _remember(sessions, key, run.at, done)
    return done


def _remember(
    sessions: sessionmaker[Session], key: str, at: datetime, result: dict[str, Any]
) -> None:
    with transaction(sessions) as session:
        row = session.get(IdempotencyKey, key)
        if row is None:
            session.add(IdempotencyKey(key=key, action=ACTION, result=result, created_at=at))
        else:
            row.result = result
