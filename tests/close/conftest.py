"""The close tests' ledger (the hand-checked book) and Temporal servers."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy.orm import Session, sessionmaker

from activities.approvals.matrix import load_matrix
from activities.billing.tax import load_tax_table
from activities.close.checklist import load_checklist
from activities.close.report import CloseReport, build_report
from activities.ledger.db import transaction
from activities.ledger.periods import Period
from activities.paths import REPO_ROOT
from activities.settings import Settings
from tests.close.book import TIMEZONE, write_book

CONFIG = REPO_ROOT / "config"


@pytest.fixture
def book(sessions: sessionmaker[Session]) -> sessionmaker[Session]:
    """The three-month book on each backend."""
    with transaction(sessions) as session:
        write_book(session)
    return sessions


@pytest.fixture
def sqlite_book(sqlite_sessions: sessionmaker[Session]) -> sessionmaker[Session]:
    with transaction(sqlite_sessions) as session:
        write_book(session)
    return sqlite_sessions


@pytest.fixture
def close_report() -> Callable[[sessionmaker[Session], str], CloseReport]:
    """Build one period's report with the repository's checklist and tax table."""
    checklist = load_checklist(CONFIG, load_matrix(CONFIG))
    tax_table = load_tax_table(CONFIG / "tax_rates.yaml")

    def build(sessions: sessionmaker[Session], period: str) -> CloseReport:
        with sessions() as session:
            return build_report(
                session, Period.parse(period), TIMEZONE, checklist.thresholds, tax_table
            )

    return build


@pytest.fixture
def close_settings(tmp_path: Path) -> Settings:
    """Settings for the close activities, with a copy of the repository's config to break."""
    config = shutil.copytree(CONFIG, tmp_path / "config")
    return Settings(
        data_dir=tmp_path / "data", config_dir=config, company_timezone=TIMEZONE, _env_file=None
    )
