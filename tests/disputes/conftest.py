"""Disputes against the time-skipping Temporal server, with every registered workflow and
activity (collections included) and a ledger holding one customer, subscription and invoice."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from temporalio.testing import WorkflowEnvironment

from tests.approvals.harness import own_time_skipping_server


@pytest.fixture
async def env() -> AsyncIterator[WorkflowEnvironment]:
    """A server per test: a dispute leaves its account's collections cadence running."""
    async with own_time_skipping_server() as server:
        yield server


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"
