"""Every recorded history under tests/histories replays on the worker's registry: a change
that would break running workflows fails here. Re-record only for a deliberate, compatible
change; see docs/temporal.md for each workflow's recorder."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from temporalio.client import WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer

from workflows.registry import WORKFLOW_RUNNER, WORKFLOWS

HISTORIES = Path(__file__).resolve().parents[1] / "histories"
COLLECTIONS = sorted(HISTORIES.glob("collections_*.json"))


def workflow_type(path: Path) -> str:
    first = json.loads(path.read_text())["events"][0]
    return str(first["workflowExecutionStartedEventAttributes"]["workflowType"]["name"])


def test_each_collections_path_is_recorded() -> None:
    assert [p.stem for p in COLLECTIONS] == [
        "collections_continued_as_new",
        "collections_full_cadence",
        "collections_promise_broken_then_paid",
        "collections_suspension_redrafted",
        "collections_sweep",
    ]
    assert {workflow_type(p) for p in COLLECTIONS} == {"Collections", "CollectionsSweep"}


def test_every_registered_workflow_has_a_recorded_history() -> None:
    recorded = {workflow_type(p) for p in HISTORIES.glob("*.json")}
    names = {getattr(w, "__temporal_workflow_definition").name for w in WORKFLOWS}
    assert names - recorded == set(), "record a history for these workflows"


ALL = sorted(HISTORIES.glob("*.json"))


@pytest.mark.parametrize(
    "history",
    [WorkflowHistory.from_json(f"replay-{p.stem}", json.loads(p.read_text())) for p in ALL],
    ids=[p.stem for p in ALL],
)
async def test_recorded_history_replays(history: WorkflowHistory) -> None:
    replayer = Replayer(
        workflows=WORKFLOWS,
        workflow_runner=WORKFLOW_RUNNER,
        data_converter=pydantic_data_converter,
    )
    result = await replayer.replay_workflow(history)
    assert result.replay_failure is None
