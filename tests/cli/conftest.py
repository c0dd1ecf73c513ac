"""Run the real `billing-ops` command line against a ledger in a temporary folder."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from activities.settings import settings
from cli.main import run

BILLING_OPS = Path(sys.executable).with_name("billing-ops")


@pytest.fixture
def ledger_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, str]]:
    """Point settings at a fresh SQLite ledger for in-process and subprocess runs alike."""
    env = {
        "DATA_DIR": str(tmp_path / "data"),
        "DATABASE_URL": f"sqlite:///{tmp_path / 'ledger.sqlite'}",
    }
    # The analyst's login, as getpass.getuser reads it: ana is in the directory, so
    # commands run without --as act as her (tests of the fallback set their own).
    monkeypatch.setenv("LOGNAME", "ana")
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    settings.cache_clear()
    yield env
    settings.cache_clear()


CliResult = tuple[int, str, str]


@pytest.fixture
def cli(ledger_env: dict[str, str], capsys: pytest.CaptureFixture[str]) -> Callable[..., CliResult]:
    """In-process: ``cli("customer", "show", "CUS-1")`` returns (status, stdout, stderr)."""

    def invoke(*args: str) -> CliResult:
        capsys.readouterr()
        status = run(list(args))
        out, err = capsys.readouterr()
        return status, out, err

    return invoke


@pytest.fixture
def cli_process(ledger_env: dict[str, str]) -> Callable[..., subprocess.CompletedProcess[str]]:
    """The installed console script in a subprocess: real exit codes, real stderr."""

    def invoke(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(BILLING_OPS), *args],
            capture_output=True,
            text=True,
            env={**os.environ, **ledger_env, "COLUMNS": "200"},
            timeout=120,
            check=False,
        )

    return invoke
