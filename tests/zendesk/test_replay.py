"""Recorded ticket histories replay on the current workflow code: a change that would break
running tickets fails here (re-record with `python -m tests.zendesk.record_histories` only
for a deliberate, compatible change)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from temporalio.client import WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer

from workflows.tickets import TicketWorkflow

HISTORIES = sorted((Path(__file__).resolve().parents[1] / "histories").glob("ticket_*.json"))


def test_every_path_is_recorded() -> None:
    assert [p.stem for p in HISTORIES] == [
        "ticket_auto_sent",
        "ticket_dispute_note",
        "ticket_reminded_edited",
        "ticket_rewritten_during_review",
    ]


@pytest.mark.parametrize(
    "history",
    [WorkflowHistory.from_json(f"replay-{p.stem}", json.loads(p.read_text())) for p in HISTORIES],
    ids=[p.stem for p in HISTORIES],
)
async def test_recorded_history_replays(history: WorkflowHistory) -> None:
    replayer = Replayer(workflows=[TicketWorkflow], data_converter=pydantic_data_converter)
    result = await replayer.replay_workflow(history)
    assert result.replay_failure is None
