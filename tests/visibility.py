"""What the Temporal UI shows, asked as it asks: list queries by search attribute, and the
history a workflow left, replayed on today's registry (the upserts replay as they ran)."""

from __future__ import annotations

import asyncio

from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer

from workflows.registry import WORKFLOW_RUNNER, WORKFLOWS


async def listed(client: Client, query: str, want: set[str]) -> set[str]:
    """The ids the list query returns once visibility shows ``want`` (or after 20 s)."""
    found: set[str] = set()
    for _ in range(100):
        found = {w.id async for w in client.list_workflows(query)}
        if want <= found:
            return found
        await asyncio.sleep(0.2)
    return found


async def replays(client: Client, workflow_id: str) -> bool:
    """Whether the workflow's history so far replays without a nondeterminism error."""
    history = await client.get_workflow_handle(workflow_id).fetch_history()
    replayer = Replayer(
        workflows=WORKFLOWS, workflow_runner=WORKFLOW_RUNNER, data_converter=pydantic_data_converter
    )
    result = await replayer.replay_workflow(history, raise_on_replay_failure=False)
    return result.replay_failure is None
