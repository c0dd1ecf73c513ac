"""Recorded order histories replay on the current workflow code: a change that would break
running orders fails here (re-record with `python -m tests.orders.record_histories` only
for a deliberate, compatible change)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from temporalio.client import WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer

from workflows.provisioning import OrderProvisioningWorkflow

HISTORIES = sorted((Path(__file__).resolve().parents[1] / "histories").glob("order_*.json"))


def test_both_paths_are_recorded() -> None:
    assert [p.name for p in HISTORIES] == [
        "order_corrected_and_approved.json",
        "order_straight.json",
    ]


@pytest.mark.parametrize(
    "history",
    [WorkflowHistory.from_json(f"replay-{p.stem}", json.loads(p.read_text())) for p in HISTORIES],
    ids=[p.stem for p in HISTORIES],
)
async def test_recorded_history_replays(history: WorkflowHistory) -> None:
    replayer = Replayer(
        workflows=[OrderProvisioningWorkflow], data_converter=pydantic_data_converter
    )
    result = await replayer.replay_workflow(history)
    assert result.replay_failure is None
