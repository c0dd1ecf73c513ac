"""Talking to the worker's Temporal from a command: every failure is one line a person can act on.

A refused update (its validator said no), a workflow that is not running (never
started, or already finished) and a server that answers with an error are user
errors (``ValueError``), printed by ``cli.main`` as one line; so is a Temporal
that is not running at all.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, TypeVar

from activities.settings import settings
from activities.temporal_runtime import TemporalUnavailable, temporal_client

if TYPE_CHECKING:
    from temporalio.client import Client

_T = TypeVar("_T")


def with_temporal(
    work: Callable[[Client], Awaitable[_T]],
    *,
    missing: str = "no such workflow is running (never started, or already finished)",
) -> _T:
    """Run ``work(client)`` against the configured Temporal (the worker must be running).

    ``missing`` is what to say when the workflow is not running: Temporal answers
    "not found" both for an id it never saw and for a workflow that has completed.
    """
    from temporalio.client import WorkflowUpdateFailedError
    from temporalio.exceptions import FailureError
    from temporalio.service import RPCError, RPCStatusCode

    async def main() -> _T:
        async with temporal_client(settings(), embed=False) as client:
            try:
                return await work(client)
            except WorkflowUpdateFailedError as error:
                cause = error.cause
                why = cause.message if isinstance(cause, FailureError) else str(cause or error)
                raise ValueError(f"refused: {why}") from None
            except RPCError as error:
                if error.status == RPCStatusCode.NOT_FOUND:
                    raise ValueError(missing) from None
                if error.status in (RPCStatusCode.UNAVAILABLE, RPCStatusCode.DEADLINE_EXCEEDED):
                    raise ValueError(
                        f"Temporal stopped answering ({error.message}); is `billing-ops worker` "
                        "still running? Check, then run the command again"
                    ) from None
                raise ValueError(f"Temporal refused the request: {error.message}") from None

    try:
        return asyncio.run(main())
    except TemporalUnavailable as error:
        raise ValueError(str(error)) from None
