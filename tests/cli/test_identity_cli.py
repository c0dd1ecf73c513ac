"""Who acts from the command line is a person of the directory, however they are named, or the
command is refused in one line naming the directory file, and nothing is written."""

from __future__ import annotations

import subprocess
from collections.abc import Callable

import pytest
from sqlalchemy import select

from activities.ledger.db import make_engine, session_factory, transaction
from activities.ledger.models import AuditEntry, CustomerNote
from tests.cli.conftest import CliResult
from tests.ledger import factories


@pytest.fixture
def book(cli: Callable[..., CliResult], ledger_env: dict[str, str]) -> str:
    assert cli("init-db")[0] == 0
    with transaction(session_factory(make_engine(ledger_env["DATABASE_URL"]))) as session:
        factories.customer(session, "CUS-1")
    return ledger_env["DATABASE_URL"]


def _notes(url: str) -> list[tuple[str, str]]:
    with session_factory(make_engine(url))() as session:
        return [(n.author, n.body) for n in session.scalars(select(CustomerNote))]


def _note_actors(url: str) -> list[str]:
    with session_factory(make_engine(url))() as session:
        query = select(AuditEntry.actor).where(AuditEntry.action == "note.added")
        return list(session.scalars(query))


@pytest.mark.parametrize(
    "name", ["ana", "Ana", " ana", "slack:U0ANALYST1", "U0ANALYST1", "ANA.ORTIZ@example.com"]
)
def test_any_name_of_a_person_records_that_person(
    cli: Callable[..., CliResult], book: str, name: str
) -> None:
    status, _, err = cli("customer", "note", "CUS-1", "called the CFO", "--as", name)
    assert (status, err) == (0, "")
    assert _notes(book) == [("cli:ana", "called the CFO")]


@pytest.mark.parametrize(
    ("name", "why"),
    [
        ("аna", "U+0430 (CYRILLIC SMALL LETTER A)"),
        ("mallory", "'mallory' is nobody in config/approval_matrix.yaml"),
        ("slack:U0NOBODY01", "'slack:U0NOBODY01' is nobody in config/approval_matrix.yaml"),
        ("workflow:collections-CUS-1", "is not a person"),
    ],
)
def test_anybody_else_is_refused_and_nothing_is_written(
    cli_process: Callable[..., subprocess.CompletedProcess[str]], book: str, name: str, why: str
) -> None:
    result = cli_process("customer", "note", "CUS-1", "forged", "--as", name)
    assert result.returncode == 1
    assert why in result.stderr and "--as" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr
    assert _notes(book) == []


def test_without_as_the_os_user_is_looked_up_not_trusted(
    cli_process: Callable[..., subprocess.CompletedProcess[str]],
    book: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for variable in ("LOGNAME", "USER", "LNAME", "USERNAME"):  # what getpass.getuser reads
        monkeypatch.setenv(variable, "deploy")
    refused = cli_process("customer", "note", "CUS-1", "who am I")
    assert refused.returncode == 1
    assert "your OS user 'deploy' is nobody in config/approval_matrix.yaml" in refused.stderr
    assert "pass --as <handle>" in refused.stderr
    assert _notes(book) == []

    for variable in ("LOGNAME", "USER", "LNAME", "USERNAME"):
        monkeypatch.setenv(variable, "ben")
    accepted = cli_process("customer", "note", "CUS-1", "my login is my handle")
    assert accepted.returncode == 0, accepted.stderr
    assert _notes(book) == [("cli:ben", "my login is my handle")]
    assert _note_actors(book) == ["cli:ben"]
