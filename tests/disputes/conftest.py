"""Disputes against the time-skipping Temporal server, with every registered workflow and
activity (collections included) and a ledger holding one customer, subscription and invoice."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from activities.temporal_runtime import binary_path
from tests.temporal_fixtures import pytest_sessionfinish, pytest_unconfigure

__all__ = ["pytest_sessionfinish", "pytest_unconfigure"]


@pytest.fixture
async def env() -> AsyncIterator[WorkflowEnvironment]:
    """A time-skipping server per test: a dispute's collections cadence keeps running after
    the test, and its timers would hold up time skipping in the next test of a shared server."""
    env = await WorkflowEnvironment.start_time_skipping(
        data_converter=pydantic_data_converter,
        test_server_existing_path=binary_path("temporal-test-server"),
    )
    yield env
    await env.shutdown()


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"
