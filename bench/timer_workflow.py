"""The floor of bench/collections_scale.py: a workflow that only waits on a timer.

Its worker is bench/timer_worker.py; the workflow lives in a module of its own because
the sandbox refuses workflows defined in ``__main__`` (DESIGN.md, known pitfalls).
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow


@workflow.defn
class TimerWorkflow:
    """Waits ``days`` on one timer; its query says whether the timer is set."""

    def __init__(self) -> None:
        self.timer_set = False

    @workflow.run
    async def run(self, days: int) -> None:
        self.timer_set = True
        await workflow.sleep(timedelta(days=days))

    @workflow.query
    def waiting(self) -> bool:
        return self.timer_set
