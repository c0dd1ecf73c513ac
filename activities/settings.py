"""Runtime settings: one pydantic-settings class, read from the environment and `.env`.

Every credential is optional: with none configured the product runs on its
embedded defaults (SQLite ledger, embedded Temporal dev server, Jinja2
templates instead of the LLM, an outbox folder instead of SMTP).

A ledger read on the command line checks the same variables without pydantic
(activities/ledger_settings.py); its field list is kept equal to this class's by a test.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from activities.ledger_settings import DEFAULT_DATA_DIR, check_database_url, check_timezone
from activities.paths import CONFIG_DIR


class SettingsError(RuntimeError):
    """A configuration variable has a wrong value; the message names the variable."""


class Settings(BaseSettings):
    """billing-ops configuration. Field names map to upper-case environment variables."""

    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")

    data_dir: Path = Field(default=DEFAULT_DATA_DIR, description="Local state: SQLite, outbox")
    config_dir: Path = Field(default=CONFIG_DIR, description="Price book, cadences, ...")
    database_url: str | None = Field(default=None, description="Default: SQLite under DATA_DIR")
    company_timezone: str = Field(default="UTC", description="Cut-off timezone for close")

    temporal_address: str | None = None
    temporal_embedded_port: int = Field(
        default=7233, ge=1, le=64535, description="Embedded dev server's port; its UI is +1000"
    )
    temporal_namespace: str = "default"
    temporal_task_queue: str = "billing-ops"
    temporal_tls_cert: Path | None = None
    temporal_tls_key: Path | None = None

    slack_bot_token: SecretStr | None = None
    slack_signing_secret: SecretStr | None = None
    slack_app_token: SecretStr | None = None
    #: Whose signed requests are served (HTTP mode): checked against each request's
    #: team_id, api_app_id and enterprise_id when set (bot/intake.py, SlackWorkspace).
    slack_team_id: str | None = None
    slack_app_id: str | None = None
    slack_enterprise_id: str | None = None
    slack_approvals_channel: str = "#billing-approvals"

    openai_api_key: SecretStr | None = None
    openai_base_url: str | None = None
    openai_model: str = "gpt-4o-mini"

    zendesk_subdomain: str | None = None
    zendesk_email: str | None = None
    zendesk_token: SecretStr | None = None
    zendesk_webhook_secret: SecretStr | None = None

    stripe_webhook_secret: SecretStr | None = Field(
        default=None, description="whsec_...: /stripe/webhook is served when set"
    )
    usage_api_key: SecretStr | None = Field(
        default=None, description="HMAC key of POST /usage (metered usage): served when set"
    )

    smtp_host: str | None = None
    smtp_port: int = Field(default=587, ge=1, le=65535)
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    smtp_starttls: bool = True
    email_from: str = "billing@example.com"

    @field_validator("database_url")
    @classmethod
    def _database_url_is_supported(cls, value: str | None) -> str | None:
        return None if value is None else check_database_url(value)

    @field_validator(
        "slack_signing_secret", "zendesk_webhook_secret", "stripe_webhook_secret", "usage_api_key"
    )
    @classmethod
    def _key_is_not_blank(cls, value: SecretStr | None) -> SecretStr | None:
        """A signing key set to nothing (``USAGE_API_KEY=`` left empty in .env) would serve
        its endpoint under a key anyone can sign with: refused; unset it to turn it off."""
        if value is not None and not value.get_secret_value().strip():
            raise ValueError("set but blank: give the signing key, or unset it")
        return value

    @field_validator("company_timezone")
    @classmethod
    def _timezone_exists(cls, value: str) -> str:
        return check_timezone(value)

    @property
    def ledger_url(self) -> str:
        """The ledger's SQLAlchemy URL: DATABASE_URL, or a SQLite file under DATA_DIR."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{self.data_dir / 'ledger.sqlite'}"


def load_settings() -> Settings:
    """Read settings, turning a validation error into one line that names the variable."""
    try:
        return Settings()
    except ValidationError as exc:
        problems = "; ".join(
            f"{'_'.join(str(p) for p in err['loc']).upper()}: {err['msg']}" for err in exc.errors()
        )
        raise SettingsError(f"invalid configuration: {problems}") from None


@cache
def settings() -> Settings:
    """The process-wide settings, read once."""
    return load_settings()


def config_dir() -> Path:
    """``CONFIG_DIR``: where every reader of the billing team's data files looks by default."""
    return settings().config_dir
