"""The floor's worker for bench/collections_scale.py: ``python -m bench.timer_worker --cache N``,
started by the bench with TEMPORAL_ADDRESS and TEMPORAL_TASK_QUEUE set.

It imports Temporal and the timer workflow, nothing else of ours, so its memory is the
floor's own, and uses Temporal's default sandbox (the real worker's runner in
workflows.registry would import every activity).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys

from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Worker
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner

from bench.timer_workflow import TimerWorkflow


async def serve(cache: int) -> None:
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    client = await Client.connect(
        os.environ["TEMPORAL_ADDRESS"], data_converter=pydantic_data_converter
    )
    async with Worker(
        client,
        task_queue=os.environ["TEMPORAL_TASK_QUEUE"],
        workflows=[TimerWorkflow],
        workflow_runner=SandboxedWorkflowRunner(),
        max_cached_workflows=cache,
    ):
        print("timer worker running", flush=True)  # what bench/collections_scale.py waits for
        await stop.wait()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--cache", type=int, default=1000, help="max_cached_workflows")
    asyncio.run(serve(parser.parse_args().cache))
    sys.stdout.flush()
    os._exit(0)  # the native bridge can abort at exit (DESIGN.md, known pitfalls)
