"""Talking to the worker's Temporal from a command: every failure is one line a person can act on.

A refused update (its validator said no), a workflow that is not running (never
started, or already finished) and a server that answers with an error are user
errors (``ValueError``), printed by ``cli.main`` as one line; so is a Temporal
that is not running at all.

After the ledger committed (a payment, applied cash) the command only tells the
collections cadences: :func:`tell_after_commit`, where no Temporal failure can
make saved money look failed.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, TypeVar

from activities.settings import settings

# Temporal's SDK (about a second of imports) loads when a command talks to it: the
# modules that import this one also hold plain ledger reads (bench/cli_start.py).
if TYPE_CHECKING:
    from temporalio.client import Client

_T = TypeVar("_T")

#: How long a command waits for Temporal once the ledger committed: the money is saved
#: either way, and a server that does not answer must not hold the analyst's terminal.
TELL_WITHIN = 10.0


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

    from activities.temporal_runtime import TemporalUnavailable, temporal_client

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


def tell_after_commit(work: Callable[[Client], Awaitable[_T]], what: str) -> _T | None:
    """Run ``work(client)`` (telling collections) after the ledger committed; ``None`` when
    Temporal could not be told.

    What was saved stands whatever Temporal does: not running, not answering within
    :data:`TELL_WITHIN`, or answering with an error is one warning line on stderr, and the
    command still succeeds. ``what`` is what the cadences will see when they next read
    the account ("the payment").
    """
    from temporalio.service import RPCError

    from activities.temporal_runtime import TemporalUnavailable, temporal_client
    from cli.output import errors

    async def main() -> _T:
        async with temporal_client(settings(), embed=False) as client:
            return await work(client)

    # A thread the command does not wait for beyond TELL_WITHIN: the client's connect to a
    # server that accepts but never answers cannot be cancelled from asyncio.
    done: list[_T] = []
    failed: list[BaseException] = []

    def run() -> None:
        try:
            done.append(asyncio.run(main()))
        except BaseException as error:  # handed to the command's thread below
            failed.append(error)

    thread = threading.Thread(target=run, name="tell-collections", daemon=True)
    thread.start()
    thread.join(TELL_WITHIN)
    if done:
        return done[0]
    if thread.is_alive():
        reason = f"Temporal did not answer within {TELL_WITHIN:.0f} s"
    elif isinstance(failed[0], TemporalUnavailable):
        reason = "Temporal is not running"
    elif isinstance(failed[0], RPCError | RuntimeError):
        reason = "Temporal refused: " + " ".join(str(failed[0]).split())
    else:
        raise failed[0]
    errors.print(
        f"warning: collections not told ({reason}); the cadences see {what} when they next "
        "read the account, nothing else is needed",
        soft_wrap=True,
    )
    return None
