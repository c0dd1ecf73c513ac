"""A minimal workflow that embeds the approval step exactly as the docstring of
workflows/approval.py tells product workflows to (workflows must live in an
importable module, not in a test function)."""

from __future__ import annotations

from temporalio import workflow

from workflows.approval import ApprovalInput, AwaitsApproval, Decision


@workflow.defn
class ApprovalProbe(AwaitsApproval):
    @workflow.run
    async def run(self, asked: ApprovalInput) -> Decision:
        return await self.request_approval(asked)

    @workflow.signal
    def withdraw(self, by: str) -> None:
        self.withdraw_approvals(by, "no longer needed")
