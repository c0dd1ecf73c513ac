"""The smallest product-like workflow with the approval step, embedded as
``workflows/approval.py`` tells workflows to (in an importable module, as the
sandbox requires)."""

from __future__ import annotations

from temporalio import workflow

from workflows.approval import ApprovalInput, AwaitsApproval, Decision


@workflow.defn
class AskForApproval(AwaitsApproval):
    @workflow.run
    async def run(self, asked: ApprovalInput) -> Decision:
        return await self.request_approval(asked)
