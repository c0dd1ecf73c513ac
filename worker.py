"""The Temporal worker: every workflow and activity of billing-ops on one task queue.

Connects to ``TEMPORAL_ADDRESS`` or, when it is unset, starts the embedded dev
server (state in ``DATA_DIR/temporal.sqlite``, Web UI on http://127.0.0.1:8233).
Stops cleanly on SIGINT, SIGTERM and SIGHUP (the terminal closed): running
activities finish, the embedded server is stopped. If the embedded server dies,
the worker says so and exits 1. Run as ``billing-ops worker`` or ``python worker.py``.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any

from sqlalchemy.orm import Session, sessionmaker
from temporalio.worker import Worker

from activities.approvals.matrix import load_matrix
from activities.ledger.db import open_ledger
from activities.settings import Settings, settings
from activities.temporal_runtime import UI_PORT_OFFSET, temporal_client
from workflows.registry import WORKFLOW_RUNNER, WORKFLOWS, build_activities, ensure_schedules

log = logging.getLogger("billing-ops.worker")


async def serve(
    config: Settings, stop: asyncio.Event, max_cached_workflows: int = 1000
) -> str | None:
    """Run the worker until ``stop`` is set; returns why it stopped early, if it did.

    ``max_cached_workflows`` bounds the workflows kept in memory between tasks; an
    evicted one is rebuilt from its history when it next has work (see bench/README.md).
    """
    sessions = open_ledger(config.ledger_url)
    activities = build_activities(config, sessions, **slack_notifiers(config, sessions))
    failure: list[str] = []

    def server_died(message: str) -> None:
        failure.append(message)
        stop.set()

    async with temporal_client(config, embed=True, on_server_exit=server_died) as client:
        await ensure_schedules(client, config.temporal_task_queue, config.config_dir)
        with ThreadPoolExecutor(max_workers=16, thread_name_prefix="activity") as executor:
            worker = Worker(
                client,
                task_queue=config.temporal_task_queue,
                workflows=WORKFLOWS,
                workflow_runner=WORKFLOW_RUNNER,
                activities=activities,
                activity_executor=executor,
                max_cached_workflows=max_cached_workflows,
                graceful_shutdown_timeout=timedelta(seconds=20),
            )
            ui_port = config.temporal_embedded_port + UI_PORT_OFFSET
            where = config.temporal_address or (
                f"embedded dev server, UI at http://127.0.0.1:{ui_port}"
            )
            log.info("worker on task queue %r (%s)", config.temporal_task_queue, where)
            print(f"billing-ops worker running: {where}. Ctrl-C stops it.", flush=True)
            async with worker:
                await stop.wait()
            log.info("worker stopped")
    return failure[0] if failure else None


def slack_notifiers(config: Settings, sessions: sessionmaker[Session]) -> dict[str, Any]:
    """Approval requests, ticket drafts and decided subscription changes go to Slack when a
    bot token is configured; without one the registry's defaults write them to the log.
    Slack's clients (Bolt, aiohttp) load only then: tens of MiB a worker without Slack
    does not hold (bench/collections_scale.py)."""
    if config.slack_bot_token is None:
        return {}
    from slack_sdk import WebClient

    from bot.approvals import approval_notifier
    from bot.sealed import settings_key
    from bot.subscription_changes import SlackChangeNotifier
    from bot.ticket_review import SlackReviewNotifier

    client = WebClient(token=config.slack_bot_token.get_secret_value())
    return {
        "approval_notifier": approval_notifier(config, sessions, load_matrix(config.config_dir)),
        "review_notifier": SlackReviewNotifier(
            client, sessions, load_matrix(config.config_dir), settings_key(config)
        ),
        "change_notifier": SlackChangeNotifier(client, load_matrix(config.config_dir)),
    }


def run_worker() -> int:
    """Entry point for ``billing-ops worker``: returns the exit status."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    config = settings()

    async def main() -> str | None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            loop.add_signal_handler(signum, stop.set)
        return await serve(config, stop)

    failure = asyncio.run(main())
    if failure is not None:
        print(f"billing-ops worker: {failure}", file=sys.stderr, flush=True)
        return 1
    return 0


if __name__ == "__main__":
    status = run_worker()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(status)
