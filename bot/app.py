"""The Bolt app, built once by :func:`create_app`; every listener is registered here.

Listeners stay thin: they ack first (Slack allows three seconds), then do the
work as Bolt lazy listeners, which run after the acknowledgement has been
sent. The work itself is calling activities or Temporal and rendering with
:mod:`bot.blocks`.
"""

from __future__ import annotations

from pydantic import SecretStr
from slack_bolt.async_app import AsyncApp
from slack_sdk.web.async_client import AsyncWebClient

from activities.drafting.model import chat_model
from activities.settings import Settings, SettingsError
from activities.zendesk.policy import load_policy
from bot import (
    approvals,
    assistant_listener,
    billing_command,
    cash_review,
    home,
    subscription_changes,
    ticket_review,
)
from bot.assistant import Assistant
from bot.services import Services


def create_app(
    settings: Settings, services: Services, *, client: AsyncWebClient | None = None
) -> AsyncApp:
    """The bot with all its listeners.

    ``client`` replaces the Web API client (tests point one at a local fake
    Slack with ``base_url``); by default it is built from ``SLACK_BOT_TOKEN``.
    Request signatures are always verified with ``SLACK_SIGNING_SECRET``:
    Bolt refuses unsigned, forged and stale (over five minutes) requests.
    """
    token = _secret(settings.slack_bot_token, "SLACK_BOT_TOKEN")
    app = AsyncApp(
        # Bolt warns when given both (it also reads SLACK_BOT_TOKEN): one or the other.
        **({"client": client} if client else {"token": token}),
        signing_secret=_secret(settings.slack_signing_secret, "SLACK_SIGNING_SECRET"),
        # The ack functions only parse and check roles, so running them before the
        # response costs microseconds and spares Bolt's 10 ms ack polling loop.
        process_before_response=True,
        request_verification_enabled=True,
    )
    billing_command.register(app, services)
    approvals.register(app, services)
    subscription_changes.register(app, services)
    home.register(app, services)
    policy = load_policy(settings.config_dir / "zendesk.yaml")
    ticket_review.register(app, services, policy.reviewer_roles)
    cash_review.register(app, services)
    assistant = Assistant(
        services.sessions, chat_model(settings), settings.config_dir, services.clock
    )
    assistant_listener.register(app, assistant, services)
    return app


def _secret(value: SecretStr | None, variable: str) -> str:
    if value is None or not value.get_secret_value():
        raise SettingsError(f"{variable}: not set; the Slack bot needs it (see docs/slack.md)")
    return value.get_secret_value()
