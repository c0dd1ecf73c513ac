"""Everything the worker runs, in one place: workflows, activities and schedules.

A new workflow is added to :data:`WORKFLOWS`; its activities to
:func:`build_activities`; a recurring start to :func:`ensure_schedules`.
The worker, the replay tests and the history recorder all read this module.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session, sessionmaker
from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleAlreadyRunningError,
    ScheduleOverlapPolicy,
    SchedulePolicy,
    ScheduleSpec,
)
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

from activities.approvals.activities import ApprovalActivities
from activities.approvals.matrix import load_matrix
from activities.approvals.notifier import LogNotifier, Notifier
from activities.close.activities import CloseActivities
from activities.collections.activities import CollectionsActivities
from activities.collections.cadence import load_cadences
from activities.collections.emails import TEMPLATES
from activities.disputes.activities import DisputeActivities
from activities.drafting.activities import DraftingActivities, build_drafter
from activities.orders.provisioning import order_activities
from activities.outbox import Outbox, Transport, transport_from_settings
from activities.recurring.activities import ChangeNotifier, recurring_activities
from activities.recurring.model import SCHEDULE_ID as BILL_RUN_SCHEDULE_ID
from activities.recurring.policy import load_policy as load_recurring_policy
from activities.search_attributes import registered
from activities.settings import Settings
from activities.team_notices import team_notices
from activities.zendesk.activities import ZendeskActivities
from activities.zendesk.client import zendesk_client
from activities.zendesk.policy import load_policy
from activities.zendesk.review import LogReviewNotifier, ReviewNotifier
from workflows.bill_run import BillRunWorkflow, bill_run_schedule
from workflows.close import SCHEDULE_ID, CloseWorkflow, ScheduledCloseWorkflow, close_schedule
from workflows.collections import CollectionsSweepWorkflow, CollectionsWorkflow, SweepStart
from workflows.disputes import DisputeWorkflow
from workflows.provisioning import OrderProvisioningWorkflow
from workflows.subscription_change import SubscriptionChangeWorkflow
from workflows.tickets import TicketWorkflow

WORKFLOWS: list[type] = [
    CollectionsWorkflow,
    CollectionsSweepWorkflow,
    OrderProvisioningWorkflow,
    DisputeWorkflow,
    TicketWorkflow,
    CloseWorkflow,
    ScheduledCloseWorkflow,
    BillRunWorkflow,
    SubscriptionChangeWorkflow,
]

#: The sandbox every worker and replayer uses. ``holidays`` loads its country tables on
#: first use, which the sandbox would otherwise re-import (and refuse) inside a workflow.
#: ``workflows.approval`` (pydantic models and the approval mixin, no state of its own) is
#: shared rather than re-executed for every workflow instance: its models were most of a
#: cached collections cadence's memory (bench/collections_scale.py). So are
#: ``workflows.collections`` and ``workflows.search``: re-executed, each cached cadence held
#: its own copy of the module's code and classes (about 67 KiB beside a trivial workflow's
#: 22). Neither keeps state at module level (constants only), which is what the re-execution
#: isolates; the price is that the sandbox's restricted stand-ins for ``datetime``, ``random``
#: and the like are not what their code sees, so a clock or random call there is caught by
#: review and the replay tests (tests/workflows/test_replay.py), not by the sandbox.
WORKFLOW_RUNNER = SandboxedWorkflowRunner(
    restrictions=SandboxRestrictions.default.with_passthrough_modules(
        "holidays", "workflows.approval", "workflows.collections", "workflows.search"
    )
)

SWEEP_SCHEDULE_ID = "collections-daily-sweep"
#: 06:00 UTC: before business hours in Europe and the Americas, so first steps go out that day.
SWEEP_CRON = "0 6 * * *"


def build_activities(
    settings: Settings,
    sessions: sessionmaker[Session],
    *,
    transport: Transport | None = None,
    slack_base_url: str | None = None,
    cadences: Path | None = None,
    approval_notifier: Notifier | None = None,
    review_notifier: ReviewNotifier | None = None,
    change_notifier: ChangeNotifier | None = None,
) -> list[Callable[..., Any]]:
    """Every activity, bound to the ledger, the cadences, the outbox and the team channel.

    The notifiers default to the log; the worker passes Slack ones when a bot token is
    configured (they live in ``bot/``, which ``workflows/`` does not import).
    """
    book = load_cadences(cadences or settings.config_dir / "cadences.yaml", TEMPLATES)
    outbox = Outbox(sessions, transport or transport_from_settings(settings), settings.email_from)
    token = settings.slack_bot_token.get_secret_value() if settings.slack_bot_token else None
    notices = team_notices(sessions, settings.data_dir, token, slack_base_url)
    drafter = build_drafter(settings, sessions)
    collections = CollectionsActivities(sessions, book, outbox, notices, drafter)
    matrix = load_matrix(settings.config_dir)
    approvals = ApprovalActivities(sessions, matrix, approval_notifier or LogNotifier())
    zendesk = ZendeskActivities(
        sessions,
        lambda: zendesk_client(settings),
        load_policy(settings.config_dir / "zendesk.yaml"),
        matrix,
        review_notifier or LogReviewNotifier(),
    )
    return [
        collections.load_account,
        collections.send_email,
        collections.prepare_email,
        collections.send_prepared,
        collections.escalate_to_owner,
        collections.suspend_account,
        collections.hand_to_write_off_review,
        collections.settle_promise,
        collections.record_promise,
        collections.sweep_overdue_accounts,
        *order_activities(sessions, outbox, drafter),
        *CloseActivities(sessions, settings).all(),
        *approvals.all(),
        *DisputeActivities(sessions, outbox, drafter).all(),
        DraftingActivities(drafter).draft_message,
        *zendesk.all(),
        *recurring_activities(settings, sessions, outbox, drafter, slack_base_url, change_notifier),
    ]


async def ensure_schedules(client: Client, task_queue: str, config_dir: Path | None = None) -> None:
    """Create the recurring starts if they do not exist yet (an existing one is left as is,
    so an operator's pause or edit in the UI survives a worker restart)."""
    schedule = Schedule(
        action=ScheduleActionStartWorkflow(
            CollectionsSweepWorkflow.run,
            SweepStart(),
            id=SWEEP_SCHEDULE_ID,
            task_queue=task_queue,
        ),
        spec=ScheduleSpec(cron_expressions=[SWEEP_CRON]),
        policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.SKIP),
    )
    with contextlib.suppress(ScheduleAlreadyRunningError):
        # The first start sweeps at once, so accounts already overdue get their cadence today.
        await client.create_schedule(SWEEP_SCHEDULE_ID, schedule, trigger_immediately=True)
    described = await registered(client)
    with contextlib.suppress(ScheduleAlreadyRunningError):
        await client.create_schedule(SCHEDULE_ID, close_schedule(task_queue, described))
    cron = load_recurring_policy(config_dir or Settings().config_dir).bill_run.cron
    with contextlib.suppress(ScheduleAlreadyRunningError):
        await client.create_schedule(
            BILL_RUN_SCHEDULE_ID, bill_run_schedule(task_queue, cron, described)
        )
