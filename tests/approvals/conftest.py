"""The approval step against the Temporal test servers (tests/temporal_fixtures.py) and a
SQLite ledger."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from temporalio.testing import WorkflowEnvironment

from activities.approvals.matrix import ApprovalMatrix, load_matrix
from activities.paths import REPO_ROOT
from tests.approvals.harness import own_time_skipping_server


@pytest.fixture(scope="session")
def matrix() -> ApprovalMatrix:
    return load_matrix(REPO_ROOT / "config")


@pytest.fixture
async def own_env() -> AsyncIterator[WorkflowEnvironment]:
    async with own_time_skipping_server() as env:
        yield env
