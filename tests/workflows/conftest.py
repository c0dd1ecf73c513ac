"""Temporal servers for the workflow tests (see tests/temporal_fixtures.py)."""

from tests.temporal_fixtures import (
    dev_server_env,
    pytest_sessionfinish,
    pytest_unconfigure,
    time_skipping_env,
)

__all__ = ["dev_server_env", "pytest_sessionfinish", "pytest_unconfigure", "time_skipping_env"]
