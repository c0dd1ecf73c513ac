"""The command line's pydantic-free read of the ledger URL (activities/ledger_settings.py)
accepts what Settings accepts and refuses with Settings' own one-line errors."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, get_args

import pytest
from annotated_types import Ge, Le
from pydantic import SecretStr

from activities.ledger_settings import FIELDS, ledger_url
from activities.settings import Settings, SettingsError, load_settings, settings
from tests.cli.conftest import CliResult


def _kind(annotation: Any, metadata: list[Any]) -> object:
    """A Settings field's annotation in FIELDS' terms."""
    if annotation is int:
        low = next(m.ge for m in metadata if isinstance(m, Ge))
        high = next(m.le for m in metadata if isinstance(m, Le))
        return (low, high)
    if annotation is bool:
        return "bool"
    if annotation is Path:
        return "path"
    if annotation is str:
        return "text"
    inner = set(get_args(annotation)) - {type(None)}
    if inner == {Path}:
        return "optional_path"
    if inner in ({str}, {SecretStr}):
        return "optional_text"
    raise AssertionError(f"FIELDS has no kind for {annotation}")


def test_fields_are_the_settings_fields() -> None:
    """A variable added to Settings and not here would go unchecked on the quick path."""
    expected = {
        name: _kind(field.annotation, field.metadata)
        for name, field in Settings.model_fields.items()
    }
    assert expected == FIELDS


@pytest.fixture
def fresh(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> Iterator[Callable[[dict[str, str]], str]]:
    """``ledger_url()`` under exactly these variables (in a folder with no .env)."""

    def under(env: dict[str, str]) -> str:
        for name in FIELDS:
            monkeypatch.delenv(name.upper(), raising=False)
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        settings.cache_clear()
        return ledger_url()

    monkeypatch.chdir(tmp_path)
    yield under
    settings.cache_clear()


@pytest.mark.parametrize(
    "env",
    [
        {},
        {"DATA_DIR": "/srv/billing"},
        {"data_dir": "/srv/lower-case"},
        {"DATABASE_URL": "postgresql+psycopg://u@db/billing", "SMTP_PORT": "0025"},
        {
            "SMTP_STARTTLS": "Off",
            "TEMPORAL_EMBEDDED_PORT": "7300",
            "COMPANY_TIMEZONE": "Asia/Tokyo",
        },
        {"SMTP_STARTTLS": "t", "DATABASE_URL": "sqlite:///x.db"},  # Settings decides: "t" is true
    ],
    ids=str,
)
def test_same_url_as_settings(fresh: Callable[[dict[str, str]], str], env: dict[str, str]) -> None:
    assert fresh(env) == Settings().ledger_url


@pytest.mark.parametrize(
    ("env", "variable"),
    [
        ({"SMTP_PORT": "70000"}, "SMTP_PORT"),
        ({"TEMPORAL_EMBEDDED_PORT": "http"}, "TEMPORAL_EMBEDDED_PORT"),
        ({"SMTP_STARTTLS": "maybe"}, "SMTP_STARTTLS"),
        ({"COMPANY_TIMEZONE": "Mars/Olympus"}, "COMPANY_TIMEZONE"),
        ({"DATABASE_URL": "mysql://u@db/billing"}, "DATABASE_URL"),
        ({"DATABASE_URL": ""}, "DATABASE_URL"),
    ],
    ids=str,
)
def test_refused_with_the_settings_error(
    fresh: Callable[[dict[str, str]], str], env: dict[str, str], variable: str
) -> None:
    with pytest.raises(SettingsError) as quick:
        fresh(env)
    with pytest.raises(SettingsError) as full:
        load_settings()
    assert str(quick.value) == str(full.value)
    assert variable in str(quick.value)


def test_a_wrong_variable_stops_a_ledger_read(
    cli: Callable[..., CliResult], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Through the command line: one line naming the variable, as before."""
    assert cli("init-db")[0] == 0
    monkeypatch.setenv("SMTP_PORT", "70000")
    settings.cache_clear()
    status, out, err = cli("customer", "show", "CUS-1")
    assert status == 1 and out == ""
    assert err.startswith("error: invalid configuration: SMTP_PORT:") and err.count("\n") == 1
