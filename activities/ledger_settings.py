"""The ledger's URL for a command-line read, checked without importing pydantic.

A ledger read (``billing-ops customer show``) needs one setting, ``DATABASE_URL`` or
``DATA_DIR``, but the whole configuration must still be valid: a wrong ``SMTP_PORT``
is refused by every command. pydantic and pydantic-settings take a third of such a
command's start (bench/cli_start.py), so :func:`ledger_url` reads the same sources
(the environment, then ``.env``; names case-insensitive) and checks every variable by
rules that accept only what :class:`activities.settings.Settings` accepts. Anything
else (an unusual but maybe valid value, or a wrong one) goes to that class, which
accepts it or raises its own one-line ``SettingsError``: the same values pass and the
same errors print. ``tests/test_settings.py`` keeps :data:`FIELDS` equal to its fields.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Literal

from activities.paths import REPO_ROOT

#: How each setting is checked here; ``int`` fields carry their bounds (Settings' ge/le).
Kind = Literal["text", "optional_text", "path", "optional_path", "bool"] | tuple[int, int]

FIELDS: dict[str, Kind] = {
    "data_dir": "path",
    "config_dir": "path",
    "database_url": "optional_text",
    "company_timezone": "text",
    "temporal_address": "optional_text",
    "temporal_embedded_port": (1, 64535),
    "temporal_namespace": "text",
    "temporal_task_queue": "text",
    "temporal_tls_cert": "optional_path",
    "temporal_tls_key": "optional_path",
    "slack_bot_token": "optional_text",
    "slack_signing_secret": "optional_text",
    "slack_app_token": "optional_text",
    "slack_team_id": "optional_text",
    "slack_app_id": "optional_text",
    "slack_enterprise_id": "optional_text",
    "slack_approvals_channel": "text",
    "openai_api_key": "optional_text",
    "openai_base_url": "optional_text",
    "openai_model": "text",
    "zendesk_subdomain": "optional_text",
    "zendesk_email": "optional_text",
    "zendesk_token": "optional_text",
    "zendesk_webhook_secret": "optional_text",
    "stripe_webhook_secret": "optional_text",
    "usage_api_key": "optional_text",
    "smtp_host": "optional_text",
    "smtp_port": (1, 65535),
    "smtp_username": "optional_text",
    "smtp_password": "optional_text",
    "smtp_starttls": "bool",
    "email_from": "text",
}

DEFAULT_DATA_DIR = REPO_ROOT / ".data"
_DIGITS = re.compile(r"[0-9]{1,6}")
#: The spellings of a boolean that pydantic reads the same whatever its mode.
_BOOLEANS = frozenset({"true", "false", "0", "1", "yes", "no", "on", "off"})


def check_database_url(value: str) -> str:
    """DATABASE_URL's rule (Settings' validator): a SQLAlchemy URL, SQLite or PostgreSQL."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        backend = make_url(value).get_backend_name()
    except ArgumentError as exc:
        raise ValueError(f"not a database URL ({exc})") from None
    if backend not in ("sqlite", "postgresql"):
        raise ValueError(f"backend {backend!r} is not supported; use sqlite or postgresql")
    return value


def check_timezone(value: str) -> str:
    """COMPANY_TIMEZONE's rule (Settings' validator): an IANA timezone."""
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"{value!r} is not an IANA timezone (e.g. Europe/Berlin)") from None
    return value


def environment() -> dict[str, str]:
    """The settings' sources as pydantic-settings reads them: ``.env`` in the working
    folder, overridden by the environment, names lower-cased; other names left out."""
    values: dict[str, str] = {}
    if Path(".env").is_file():
        from dotenv import dotenv_values  # pydantic-settings' own reader of .env

        read = dotenv_values(".env", encoding="utf-8")
        values |= {key.lower(): value for key, value in read.items() if value is not None}
    values |= {key.lower(): value for key, value in os.environ.items()}
    return {name: value for name, value in values.items() if name in FIELDS}


def _plainly_valid(kind: Kind, value: str) -> bool:
    """Whether Settings surely accepts ``value`` as this kind (False: let it decide)."""
    if isinstance(kind, tuple):
        return _DIGITS.fullmatch(value) is not None and kind[0] <= int(value) <= kind[1]
    if kind == "bool":
        return value.lower() in _BOOLEANS
    # text and paths: any string with a character but spaces (Settings refuses a blank
    # signing key; other blank text it may accept, and then decides so itself)
    return value.strip() != ""


def ledger_url() -> str:
    """The ledger's SQLAlchemy URL, as ``Settings.ledger_url`` gives it, once the whole
    configuration is known to be valid; on any doubt, from Settings itself (which raises
    ``SettingsError`` naming the variable when one is wrong). Read each time, as cheap as
    a lookup: tests point the environment at a new ledger between commands."""
    found = environment()
    try:
        if not all(_plainly_valid(FIELDS[name], value) for name, value in found.items()):
            raise ValueError("for Settings to decide")
        if "company_timezone" in found:
            check_timezone(found["company_timezone"])
        if "database_url" in found:
            return check_database_url(found["database_url"])
    except ValueError:
        from activities.settings import settings

        return settings().ledger_url
    data_dir = Path(found["data_dir"]) if "data_dir" in found else DEFAULT_DATA_DIR
    return f"sqlite:///{data_dir / 'ledger.sqlite'}"
