"""Recorded close histories replay against today's workflow code: a change that would break
running closes fails here. Re-record with RECORD_CLOSE_HISTORY=1 pytest tests/close -k workflow."""

from __future__ import annotations

from pathlib import Path

import pytest
from temporalio.client import WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer

from workflows.close import CloseWorkflow, ScheduledCloseWorkflow

HISTORIES = Path(__file__).parents[1] / "histories"


@pytest.mark.parametrize("name", ["close-2026-11.json", "close-scheduled-start.json"])
async def test_a_recorded_close_replays(name: str) -> None:
    history = WorkflowHistory.from_json(name.removesuffix(".json"), (HISTORIES / name).read_text())
    replayer = Replayer(
        workflows=[CloseWorkflow, ScheduledCloseWorkflow], data_converter=pydantic_data_converter
    )
    result = await replayer.replay_workflow(history)
    assert result.replay_failure is None
