"""Recorded dispute histories replay on the current workflow code (and the approval step it
embeds): a change that would break running disputes fails here. Re-record with
`python -m tests.disputes.record_histories` only for a deliberate, compatible change."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from temporalio.client import WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer

from workflows.disputes import DisputeWorkflow
from workflows.registry import WORKFLOW_RUNNER

HISTORIES = sorted((Path(__file__).resolve().parents[1] / "histories").glob("dispute_*.json"))


def test_every_path_is_recorded() -> None:
    assert [p.name for p in HISTORIES] == [
        "dispute_escalated_resolved.json",
        "dispute_triaged_rejected.json",
        "dispute_withdrawn.json",
    ]


@pytest.mark.parametrize(
    "history",
    [WorkflowHistory.from_json(f"replay-{p.stem}", json.loads(p.read_text())) for p in HISTORIES],
    ids=[p.stem for p in HISTORIES],
)
async def test_recorded_history_replays(history: WorkflowHistory) -> None:
    replayer = Replayer(
        workflows=[DisputeWorkflow],
        data_converter=pydantic_data_converter,
        workflow_runner=WORKFLOW_RUNNER,
    )
    result = await replayer.replay_workflow(history, raise_on_replay_failure=False)
    assert result.replay_failure is None
