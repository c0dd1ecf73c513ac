"""Running the approval step's workflows and activities against a test server."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy.orm import Session, sessionmaker
from temporalio.client import Client, WorkflowHandle
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from activities.approvals.activities import ApprovalActivities
from activities.approvals.matrix import ApprovalMatrix
from activities.approvals.notifier import LogNotifier
from activities.temporal_runtime import binary_path
from workflows.registry import WORKFLOW_RUNNER


@asynccontextmanager
async def own_time_skipping_server() -> AsyncIterator[WorkflowEnvironment]:
    """A time-skipping server for one test. Skipping time on the session's shared server
    stalls when another test left a workflow with a timer behind on a stopped worker."""
    env = await WorkflowEnvironment.start_time_skipping(
        data_converter=pydantic_data_converter,
        test_server_existing_path=binary_path("temporal-test-server"),
    )
    try:
        yield env
    finally:
        await env.shutdown()


@asynccontextmanager
async def running_worker(
    client: Client,
    workflows: list[type],
    activities: list[Callable[..., Any]],
) -> AsyncIterator[str]:
    """A worker on a fresh task queue for the block; yields the queue's name."""
    task_queue = f"test-{uuid.uuid4().hex[:8]}"
    with ThreadPoolExecutor(max_workers=8) as executor:
        async with Worker(
            client,
            task_queue=task_queue,
            workflows=workflows,
            activities=activities,
            activity_executor=executor,
            workflow_runner=WORKFLOW_RUNNER,
        ):
            yield task_queue


def approval_activities(
    sessions: sessionmaker[Session], matrix: ApprovalMatrix
) -> list[Callable[..., Any]]:
    return ApprovalActivities(sessions, matrix, LogNotifier()).all()


async def eventually(check: Callable[[], Awaitable[Any]]) -> Any:
    """Poll ``check`` until it returns something truthy (the workflow runs in another task)."""
    for _ in range(200):
        if result := await check():
            return result
        await asyncio.sleep(0.05)
    raise AssertionError("the workflow did not get there within 10 s")


async def settled_history_length(handle: WorkflowHandle[Any, Any]) -> int:
    """The number of events once the workflow waits with nothing in flight (no activity, no
    workflow task), so that a later count differs only by what the test itself caused."""

    async def settled() -> bool:
        raw = (await handle.describe()).raw_description
        return not raw.pending_activities and not raw.HasField("pending_workflow_task")

    await eventually(settled)
    return len([event async for event in handle.fetch_history_events()])
